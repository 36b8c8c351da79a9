#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockIO

/// The shim's one direct connection to its relay (design.md §4: the relay's hub address is the
/// agent namespace's only route). The shim only dials through it, never reserves, so this is
/// not a `RelayClient` run: it dials, keeps the connection, and when it is lost dials again after
/// an exponential back-off (`minBackoff` doubling to `maxBackoff`, equal jitter). The back-off
/// resets only after a connection stayed up `stableAfter` seconds, so a relay that admits and
/// then drops us cannot make the shim spin.
///
/// Callers that need the connection use `whenConnected`: answered at once when connected, queued
/// while a dial is in flight, refused while waiting out a back-off (the proxies then answer 502
/// and the agent may retry).
///
/// **Thread:** the host's loop only.
public final class ShimRelayLink {
    public enum State: Equatable, Sendable, CustomStringConvertible {
        case idle
        case connecting
        case connected
        case waiting(retryIn: Double)
        case stopped

        public var description: String {
            switch self {
            case .idle: "idle"
            case .connecting: "connecting"
            case .connected: "connected"
            case .waiting(let d): "waiting(\(d) s)"
            case .stopped: "stopped"
            }
        }
    }

    public let host: Host
    public let relay: SocketAddress
    public let relayPeer: PeerID
    let logger: Logger

    public var minBackoff: Double = 0.1
    /// Low: the relay is one veth away, and an agent waiting for it after a relay restart
    /// should not wait long once it is back.
    public var maxBackoff: Double = 2
    public var stableAfter: Double = 10

    public private(set) var state: State = .idle {
        didSet { if state != oldValue { onStateChange?(state) } }
    }
    public var onStateChange: ((State) -> Void)?
    /// The open connection to the relay, if any.
    public private(set) var connection: Libp2pConnection?
    /// Successful dials so far (the first one included).
    public private(set) var connects = 0

    private var backoff: Double
    private var timer: TimerID?
    private var waiters: [(Result<Libp2pConnection, ShimRefusal>) -> Void] = []
    private var lastReason = "not connected yet"
    /// Bumped by `stop()`, so a dial finishing afterwards is dropped.
    private var generation: UInt64 = 0

    public init(host: Host, relay: SocketAddress, relayPeer: PeerID, logger: Logger) {
        self.host = host
        self.relay = relay
        self.relayPeer = relayPeer
        self.logger = logger
        backoff = minBackoff
    }

    /// Starts dialling. A no-op unless idle.
    public func start() {
        guard state == .idle else { return }
        backoff = minBackoff
        dial()
    }

    /// Closes the connection and stops re-dialling; queued callers are refused.
    public func stop() {
        guard state != .stopped else { return }
        generation &+= 1
        if let t = timer { host.loop.cancel(t); timer = nil }
        state = .stopped
        if let c = connection {
            connection = nil
            c.close(reason: "shim stopping")
        }
        lastReason = "shim stopping"
        failWaiters()
    }

    /// Calls `body` with the relay connection: now when connected, after the dial in flight, or
    /// with `.relayUnavailable` at once while waiting to re-dial (or stopped). Always from the
    /// loop, never inside this call.
    public func whenConnected(_ body: @escaping (Result<Libp2pConnection, ShimRefusal>) -> Void) {
        if let c = connection, !c.isClosed {
            host.loop.runSoon { body(.success(c)) }
        } else if state == .connecting {
            waiters.append(body)
        } else {
            let why = lastReason
            host.loop.runSoon { body(.failure(ShimRefusal(.relayUnavailable, "no connection to the relay: \(why)"))) }
        }
    }

    // MARK: dialling

    private func dial() {
        state = .connecting
        let gen = generation
        host.dial(relay, expect: relayPeer) { [weak self] result in
            guard let self, gen == self.generation else {
                if case .success(let c) = result { c.close(reason: "shim stopping") }
                return
            }
            switch result {
            case .success(let c):
                self.connected(c)
            case .failure(let e):
                self.lost("cannot connect to the relay at \(self.relay): \(e)")
            }
        }
    }

    private func connected(_ c: Libp2pConnection) {
        connection = c
        connects += 1
        state = .connected
        logger.info("shim_relay_connected", ["relay": relayPeer, "addr": relay])
        let previous = c.onClose
        let gen = generation
        c.onClose = { [weak self] closed in
            previous?(closed)
            guard let self, gen == self.generation, closed === self.connection else { return }
            self.connection = nil
            let lived = Double(closed.opened.nanoseconds(until: .now())) / 1e9
            if lived >= self.stableAfter { self.backoff = self.minBackoff }
            self.lost("connection to the relay closed: \(closed.closeReason ?? "no reason given")")
        }
        let ready = waiters
        waiters.removeAll()
        for w in ready { w(.success(c)) }
    }

    private func lost(_ reason: String) {
        lastReason = reason
        let base = backoff
        backoff = min(maxBackoff, backoff * 2)
        let delay = base / 2 + Double.random(in: 0...(base / 2))
        logger.warn("shim_relay_lost", ["relay": relayPeer, "reason": reason, "retry_in": delay])
        state = .waiting(retryIn: delay)
        failWaiters()
        timer = host.loop.schedule(after: .milliseconds(Int64(delay * 1000))) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.dial()
        }
    }

    private func failWaiters() {
        let failed = waiters
        waiters.removeAll()
        let refusal = ShimRefusal(.relayUnavailable, "no connection to the relay: \(lastReason)")
        for w in failed { w(.failure(refusal)) }
    }
}
