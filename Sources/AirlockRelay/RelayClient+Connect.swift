import AirlockCore
import AirlockIO
import AirlockWire

/// Reaching a peer through a relay (wire.md §5.5): CONNECT on a hop stream, then the stream is
/// the circuit and is upgraded like a fresh TCP connection (Noise + yamux inside it, so the
/// relay only ever sees ciphertext).
extension RelayClient {
    /// Connects to `target` through the relay: a hop stream on the relay connection (dialing the
    /// relay first if there is none; that connection then lives as long as the circuit), CONNECT,
    /// the relay's STATUS within `timing.connectTimeout`, and on OK the upgrade as dialer
    /// expecting `target`. A refusal carries the relay's status (e.g. NO_RESERVATION, 204).
    public func connect(to target: PeerID, _ completion: @escaping (Result<Libp2pConnection, RelayClientError>) -> Void) {
        if let c = relayConnection ?? host.connections(to: relayPeer).first(where: { !$0.isRelayed && !$0.isClosed }) {
            CircuitDial(host: host, relay: c, target: target, timeout: timing.connectTimeout, logger: logger, completion: completion).start()
            return
        }
        RelayClient.dialThenConnect(host: host, relay: relayAddress, relayPeer: relayPeer, target: target,
                                    timeout: timing.connectTimeout, logger: logger, completion)
    }

    /// Connects to the target of a circuit address `/ip4|ip6/…/tcp/…/p2p/RELAY/p2p-circuit/p2p/TARGET`
    /// (wire.md §5.8): dials the relay, then CONNECTs. The relay connection is closed when the
    /// relayed connection closes, or at once if the CONNECT fails.
    public static func connect(host: Host, through address: Multiaddr, timeout: Double = 30, logger: Logger = .silent,
                               _ completion: @escaping (Result<Libp2pConnection, RelayClientError>) -> Void) {
        guard let (relay, target) = address.circuit else {
            host.loop.runSoon { completion(.failure(RelayClientError("\(address) is not a circuit address (no /p2p-circuit)"))) }
            return
        }
        guard let target else {
            host.loop.runSoon { completion(.failure(RelayClientError("\(address) names no target after /p2p-circuit"))) }
            return
        }
        guard let relayPeer = relay.peerID, let (ip, port) = relay.tcpEndpoint,
              let socket = SocketAddress(ip: ip.description, port: port) else {
            host.loop.runSoon {
                completion(.failure(RelayClientError("relay part \(relay) must be /ip4|ip6/…/tcp/…/p2p/<relay>")))
            }
            return
        }
        dialThenConnect(host: host, relay: socket, relayPeer: relayPeer, target: target, timeout: timeout, logger: logger, completion)
    }

    static func dialThenConnect(host: Host, relay: SocketAddress, relayPeer: PeerID, target: PeerID, timeout: Double,
                                logger: Logger, _ completion: @escaping (Result<Libp2pConnection, RelayClientError>) -> Void) {
        host.dial(relay, expect: relayPeer) { result in
            switch result {
            case .failure(let e):
                completion(.failure(RelayClientError("cannot connect to the relay at \(relay): \(e)")))
            case .success(let rc):
                CircuitDial(host: host, relay: rc, target: target, timeout: timeout, logger: logger) { r in
                    switch r {
                    case .success(let c):
                        let previous = c.onClose
                        c.onClose = { closed in
                            previous?(closed)
                            rc.close(reason: "relayed connection closed")
                        }
                    case .failure:
                        rc.close(reason: "relayed connect failed")
                    }
                    completion(r)
                }.start()
            }
        }
    }
}

extension RelayClient {
    /// `Host.upgrade(stream:…)` for a circuit stream whose inbox may already hold the remote's
    /// first handshake bytes (they arrived glued to the relay message, wire.md §9 P1).
    ///
    /// The connection installs its raw reader, which drains the inbox, before its session has
    /// started, so the session would keep those bytes unprocessed until more arrive: a stall
    /// whenever the remote is waiting for our answer to them. So they are taken out first and
    /// handed to the reader once the upgrade has started. (`take` returns their window credit and
    /// the reader returns it again; yamux caps grants at its maximum window, so that is harmless.)
    static func upgrade(_ host: Host, _ s: Libp2pStream, asDialer: Bool, expect: PeerID,
                        _ completion: @escaping (Result<Libp2pConnection, SessionError>) -> Void) {
        host.upgrade(stream: s, asDialer: asDialer, expect: expect, completion)
    }
}

/// One CONNECT exchange on a hop stream. Holds itself alive through its timer and stream
/// callbacks until it completes, exactly once.
final class CircuitDial {
    let host: Host
    let relay: Libp2pConnection
    let target: PeerID
    let timeout: Double
    let logger: Logger
    private var completion: ((Result<Libp2pConnection, RelayClientError>) -> Void)?
    private var timer: TimerID?
    private var stream: Libp2pStream?

    init(host: Host, relay: Libp2pConnection, target: PeerID, timeout: Double, logger: Logger,
         completion: @escaping (Result<Libp2pConnection, RelayClientError>) -> Void) {
        self.host = host; self.relay = relay; self.target = target; self.timeout = timeout
        self.logger = logger; self.completion = completion
    }

    func start() {
        timer = host.loop.schedule(after: RelayClient.duration(timeout)) { [self] in
            timer = nil
            fail(RelayClientError("no answer to CONNECT within \(timeout) s"))
        }
        relay.openStream(ProtocolID.hop, timeout: timeout) { [self] result in
            guard completion != nil else {
                if case .success(let s) = result { s.reset() }
                return
            }
            switch result {
            case .failure(let e):
                fail(RelayClientError("cannot open a hop stream: \(e)"))
            case .success(let s):
                stream = s
                s.send(HopMessage.connect(to: target).framed())
                s.onReadable = { [unowned self] in read() }
                s.onEnd = { [unowned self] how in fail(RelayClientError("hop stream ended before the answer (\(how))")) }
            }
        }
    }

    private func read() {
        guard let s = stream, completion != nil else { return }
        let msg: HopMessage
        do {
            guard let body = try s.readMessage(cap: RelayClient.maxMessageLength) else { return }
            msg = try HopMessage(decoding: body[...])
        } catch {
            fail(RelayClientError("malformed answer to CONNECT: \(error)"))
            return
        }
        guard msg.type == .status, let status = msg.status else {
            fail(RelayClientError(status: msg.status, "relay answered CONNECT with a \(msg.type) message without status"))
            return
        }
        guard status == .ok else {
            fail(RelayClientError(status: status, "relay refused the connection to \(target)"))
            return
        }
        // From here the stream is the circuit. Whatever already sits in its inbox is the
        // target's first handshake bytes (wire.md §5.2, §9 P1): `RelayClient.upgrade` hands it over.
        if let t = timer { host.loop.cancel(t); timer = nil }
        s.onReadable = nil
        s.onEnd = nil
        stream = nil
        logger.debug("relay_circuit_open", ["relay": relay.remotePeer, "peer": target,
                                            "limit_s": msg.limit?.duration ?? 0, "limit_bytes": msg.limit?.data ?? 0])
        let cb = completion
        completion = nil
        let target = self.target
        RelayClient.upgrade(host, s, asDialer: true, expect: target) { r in
            cb?(r.mapError { RelayClientError("handshake with \(target) through the relay failed: \($0)") })
        }
    }

    private func fail(_ error: RelayClientError) {
        guard let cb = completion else { return }
        completion = nil
        if let t = timer { host.loop.cancel(t); timer = nil }
        if let s = stream {
            stream = nil
            s.onReadable = nil
            s.onEnd = nil
            s.reset()
        }
        logger.debug("relay_connect_failed", ["peer": target, "reason": error.description])
        cb(.failure(error))
    }
}
