#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockWire

/// The client side of Circuit Relay v2 (wire.md §5.4): holds a connection to one relay and a
/// reservation on it, so peers can reach this host through `<relay>/p2p-circuit/p2p/<us>`.
///
/// **Lifecycle.** `start()` dials the relay (or adopts an established direct connection to it),
/// sends RESERVE on a hop stream and validates the answer. A granted reservation is refreshed at
/// `refreshFraction` of its remaining time (rust's ¾ policy), never sooner than
/// `minRefreshInterval` after the last grant, so a relay granting very short reservations cannot
/// make us loop (py-libp2p does, wire.md §9 P6). A refused or unanswered RESERVE, or a lost
/// connection (which ends the reservation, §5.4 step 4), is retried with exponential back-off
/// (`minBackoff` doubling to `maxBackoff`, with jitter); a grant resets the back-off.
///
/// **Thread:** the host's loop only; every callback runs there.
public final class RelayClient {
    /// What the client is doing, reported through `onStateChange`.
    public enum State: Equatable, Sendable, CustomStringConvertible {
        case idle
        case connecting
        case reserving
        case reserved(expire: UInt64)
        /// Waiting `retryIn` seconds before the next attempt, after `reason`.
        case waiting(retryIn: Double, reason: String)
        case stopped

        public var description: String {
            switch self {
            case .idle: "idle"
            case .connecting: "connecting"
            case .reserving: "reserving"
            case .reserved(let e): "reserved(expire: \(e))"
            case .waiting(let d, let r): "waiting(\(d) s: \(r))"
            case .stopped: "stopped"
            }
        }
    }

    /// Timeouts and the refresh and back-off policy, in seconds.
    public struct Timing: Sendable, Equatable {
        /// Whole RESERVE exchange: stream open, negotiation, answer.
        public var reserveTimeout: Double = 30
        /// A CONNECT: stream open, negotiation, the relay's STATUS (the handshake that follows
        /// has the host's own `handshakeTimeout`). go uses 1 min for the whole dial (wire.md §5.6).
        public var connectTimeout: Double = 30
        public var minBackoff: Double = 0.1
        public var maxBackoff: Double = 30
        public var refreshFraction: Double = 0.75
        public var minRefreshInterval: Double = 1
        /// Refresh at least this often, whatever expiry the relay grants.
        public var maxRefreshInterval: Double = 3600
        /// How long an answered hop stream may wait for the relay's FIN before we reset it.
        public var linger: Double = 5
        public init() {}
    }

    /// Hop and stop messages are at most 4096 bytes (wire.md §5.2).
    static let maxMessageLength = 4096

    public let host: Host
    public let relayAddress: SocketAddress
    public let relayPeer: PeerID
    public var timing = Timing()
    let logger: Logger
    let now: () -> Double

    /// Every RESERVE outcome: the validated grant (also for refreshes), or why there is none.
    public var onReservation: ((Result<Reservation, RelayClientError>) -> Void)?
    public var onStateChange: ((State) -> Void)?

    /// The current reservation: granted with status OK, expiring in the future, and with a
    /// voucher (if any) signed by the relay for us. nil while there is none.
    public private(set) var reservation: Reservation?
    public private(set) var state: State = .idle {
        didSet { if state != oldValue { onStateChange?(state) } }
    }
    /// The limit the relay announced with the last grant (nil: none announced, unlimited).
    public private(set) var limit: Limit?

    /// The direct connection to the relay, while it is open.
    public var relayConnection: Libp2pConnection? {
        guard let c = connection, !c.isClosed else { return nil }
        return c
    }

    private var connection: Libp2pConnection?
    private var ownsConnection = false
    private var running = false
    /// Bumped by `stop()`: callbacks from an earlier run are ignored.
    private var generation: UInt64 = 0
    /// Bumped when a RESERVE exchange ends: its late callbacks are ignored.
    private var reserveToken: UInt64 = 0
    private var reserveTimer: TimerID?
    private var hopStream: Libp2pStream?
    /// The one pending refresh or retry.
    private var timer: TimerID?
    private var backoff: Double

    public init(host: Host, relay: SocketAddress, relayPeer: PeerID, logger: Logger,
                now: @escaping () -> Double = RelayClient.unixTime) {
        self.host = host
        self.relayAddress = relay
        self.relayPeer = relayPeer
        self.logger = logger
        self.now = now
        self.backoff = Timing().minBackoff
    }

    /// Wall-clock Unix time in seconds (reservation expiry is absolute UTC, wire.md §5.3).
    public static func unixTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    // MARK: running

    /// Connects, reserves and keeps the reservation until `stop()`. A no-op while running.
    public func start() {
        guard !running else { return }
        running = true
        generation &+= 1
        backoff = timing.minBackoff
        attempt()
    }

    /// Drops the reservation and, if this client dialed it, the relay connection.
    public func stop() {
        guard running else { return }
        running = false
        generation &+= 1
        reserveToken &+= 1
        cancelTimers()
        if let s = hopStream { hopStream = nil; s.reset() }
        reservation = nil
        limit = nil
        if let c = connection {
            connection = nil
            if ownsConnection { c.close(reason: "relay client stopped") }
        }
        state = .stopped
    }

    /// Reserves on the current connection, or gets one first.
    private func attempt() {
        guard running else { return }
        if let c = relayConnection { reserve(on: c); return }
        if let c = host.connections(to: relayPeer).first(where: { !$0.isRelayed && !$0.isClosed }) {
            adopt(c, owned: false)
            reserve(on: c)
            return
        }
        state = .connecting
        let gen = generation
        logger.debug("relay_dial", ["relay": relayPeer, "addr": relayAddress])
        host.dial(relayAddress, expect: relayPeer) { [weak self] result in
            guard let self, self.running, gen == self.generation else {
                if case .success(let c) = result { c.close(reason: "relay client stopped") }
                return
            }
            switch result {
            case .success(let c):
                self.adopt(c, owned: true)
                self.reserve(on: c)
            case .failure(let e):
                self.failed(RelayClientError("cannot connect to the relay at \(self.relayAddress): \(e)"))
            }
        }
    }

    private func adopt(_ c: Libp2pConnection, owned: Bool) {
        connection = c
        ownsConnection = owned
        let previous = c.onClose
        c.onClose = { [weak self] closed in
            previous?(closed)
            self?.connectionLost(closed)
        }
    }

    private func connectionLost(_ c: Libp2pConnection) {
        guard running, c === connection else { return }
        connection = nil
        reserveToken &+= 1
        cancelTimers()
        hopStream = nil
        reservation = nil
        limit = nil
        failed(RelayClientError("connection to the relay closed: \(c.closeReason ?? "no reason given")"))
    }

    /// Reports `error` and schedules the next attempt after the back-off.
    private func failed(_ error: RelayClientError) {
        let base = backoff
        backoff = min(timing.maxBackoff, backoff * 2)
        // Equal jitter: between half and all of the current step, so clients that lost the same
        // relay do not all come back in the same millisecond.
        let delay = base / 2 + Double.random(in: 0...(base / 2))
        logger.warn("relay_reserve_failed", ["relay": relayPeer, "reason": error.description, "retry_in": delay])
        state = .waiting(retryIn: delay, reason: error.description)
        arm(after: delay) { [weak self] in self?.attempt() }
        onReservation?(.failure(error))
    }

    // MARK: RESERVE

    private func reserve(on c: Libp2pConnection) {
        if reservation == nil { state = .reserving }
        reserveToken &+= 1
        let token = reserveToken
        let limit = timing.reserveTimeout
        reserveTimer = host.loop.schedule(after: RelayClient.duration(limit)) { [weak self] in
            self?.reserveTimer = nil
            self?.reserveDone(token, .failure(RelayClientError("no answer to RESERVE within \(limit) s")))
        }
        c.openStream(ProtocolID.hop, timeout: limit) { [weak self] result in
            guard let self, token == self.reserveToken else {
                if case .success(let s) = result { s.reset() }
                return
            }
            switch result {
            case .failure(let e):
                self.reserveDone(token, .failure(RelayClientError("cannot open a hop stream: \(e)")))
            case .success(let s):
                self.hopStream = s
                s.send(HopMessage.reserve.framed())
                // rust half-closes here; the answer still comes back on the read side.
                s.closeWrite()
                s.onReadable = { [weak self, unowned s] in self?.readReserveAnswer(s, token) }
                s.onEnd = { [weak self] how in
                    self?.reserveDone(token, .failure(RelayClientError("hop stream ended before the answer (\(how))")))
                }
            }
        }
    }

    private func readReserveAnswer(_ s: Libp2pStream, _ token: UInt64) {
        guard token == reserveToken else { return }
        let msg: HopMessage
        do {
            guard let body = try s.readMessage(cap: RelayClient.maxMessageLength) else { return }
            msg = try HopMessage(decoding: body[...])
        } catch {
            reserveDone(token, .failure(RelayClientError("malformed answer to RESERVE: \(error)")))
            return
        }
        reserveDone(token, validate(msg).map { ($0, msg.limit) })
    }

    /// The client-side checks of wire.md §5.4 step 6 (go's and rust's, minus rust's demand for
    /// addresses, which a loopback or LAN relay legitimately leaves out, §9 P3).
    func validate(_ msg: HopMessage) -> Result<Reservation, RelayClientError> {
        guard msg.type == .status else {
            return .failure(RelayClientError(status: msg.status, "relay answered RESERVE with a \(msg.type) message"))
        }
        guard let status = msg.status else { return .failure(RelayClientError("answer to RESERVE has no status")) }
        guard status == .ok else { return .failure(RelayClientError(status: status, "relay refused the reservation")) }
        guard let r = msg.reservation else {
            return .failure(RelayClientError(status: status, "relay said OK without a reservation"))
        }
        let t = now()
        guard Double(r.expire) > t else {
            return .failure(RelayClientError(status: status, "reservation expiry \(r.expire) is not in the future (now \(UInt64(t)))"))
        }
        // An empty voucher is no voucher (py-libp2p sends b"" when it cannot sign).
        if let v = r.voucher, !v.isEmpty {
            let voucher: Voucher
            do { voucher = try Voucher.open(v) } catch {
                return .failure(RelayClientError(status: status, "reservation voucher does not verify: \(error)"))
            }
            guard voucher.relay == relayPeer else {
                return .failure(RelayClientError(status: status, "voucher is signed by \(voucher.relay), not the relay \(relayPeer)"))
            }
            guard voucher.peer == host.peerID else {
                return .failure(RelayClientError(status: status, "voucher is for \(voucher.peer), not for us"))
            }
        }
        return .success(r)
    }

    private func reserveDone(_ token: UInt64, _ result: Result<(Reservation, Limit?), RelayClientError>) {
        guard token == reserveToken, running else { return }
        reserveToken &+= 1
        if let t = reserveTimer { host.loop.cancel(t); reserveTimer = nil }
        if let s = hopStream { hopStream = nil; quiet(s) }
        switch result {
        case .success(let (r, l)):
            reservation = r
            limit = l
            backoff = timing.minBackoff
            let remaining = Double(r.expire) - now()
            let delay = min(timing.maxRefreshInterval, max(timing.minRefreshInterval, remaining * timing.refreshFraction))
            logger.info("relay_reserved", ["relay": relayPeer, "expire": r.expire, "refresh_in": delay])
            state = .reserved(expire: r.expire)
            arm(after: delay) { [weak self] in self?.attempt() }
            onReservation?(.success(r))
        case .failure(let e):
            reservation = nil
            limit = nil
            if e.status == nil, ownsConnection, let c = connection {
                // No usable answer: the connection itself is suspect, so the retry dials afresh.
                connection = nil
                c.close(reason: "relay did not answer RESERVE properly")
            }
            failed(e)
        }
    }

    /// After the answer: ignore whatever else the relay sends (py-libp2p sends a second STATUS
    /// when it sees our FIN) and reset the stream if the relay never closes it.
    private func quiet(_ s: Libp2pStream) {
        s.onEnd = nil
        s.onReadable = { [unowned s] in _ = s.take() }
        _ = s.take()
        s.closeWrite()
        host.loop.schedule(after: RelayClient.duration(timing.linger)) { [weak s] in s?.reset() }
    }

    // MARK: timers

    private func arm(after seconds: Double, _ body: @escaping () -> Void) {
        if let t = timer { host.loop.cancel(t) }
        timer = host.loop.schedule(after: RelayClient.duration(seconds)) { [weak self] in
            self?.timer = nil
            body()
        }
    }

    private func cancelTimers() {
        if let t = timer { host.loop.cancel(t); timer = nil }
        if let t = reserveTimer { host.loop.cancel(t); reserveTimer = nil }
    }

    static func duration(_ seconds: Double) -> Duration {
        .milliseconds(Int64(max(0, min(seconds, 1e9)) * 1000))
    }
}
