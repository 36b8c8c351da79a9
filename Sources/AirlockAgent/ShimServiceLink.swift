import AirlockCore
import AirlockIO
import AirlockRelay
import AirlockWire

/// The shim's relayed connection to one service (design.md §3 data plane): ONE per service,
/// made on first use and reused by every later agent connection, each of which costs one
/// `/airlock/tcp/1.0.0` stream instead of a new circuit and handshake. An exit peer gets one
/// too, whose streams are `/airlock/exit/1.0.0`.
///
/// Callers that arrive while the circuit is being made wait for it (one CONNECT, not one each).
/// When the relayed connection closes (the service or the relay went away) it is forgotten and
/// the next caller makes a new one. A stream that cannot be opened because the connection died
/// under it is retried once on a fresh circuit, so a caller does not see a stale connection.
///
/// **Thread:** the host's loop only.
public final class ShimServiceLink {
    public let name: String
    public let peer: PeerID
    /// The protocol of every stream opened on it.
    public let protocolID: String
    let relayLink: ShimRelayLink
    let relayClient: RelayClient
    let logger: Logger
    /// Seconds to negotiate a stream on the relayed connection.
    public var streamTimeout: Double = 10

    /// The relayed connection, while open.
    public private(set) var connection: Libp2pConnection?
    /// Circuits made to this service so far.
    public private(set) var circuits = 0

    private var connecting = false
    private var waiters: [(Result<Libp2pConnection, ShimRefusal>) -> Void] = []

    init(name: String, peer: PeerID, protocolID: String = ProtocolID.airlockTCP, relayLink: ShimRelayLink, relayClient: RelayClient,
         logger: Logger) {
        self.name = name
        self.peer = peer
        self.protocolID = protocolID
        self.relayLink = relayLink
        self.relayClient = relayClient
        self.logger = logger
    }

    /// Opens one stream (`protocolID`) to the service, making the circuit first if there is none. The completion runs on the loop, never inside this call.
    public func openStream(_ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        openStream(retry: true, completion)
    }

    private func openStream(retry: Bool, _ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        withConnection { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let refusal):
                completion(.failure(refusal))
            case .success(let c):
                c.openStream(self.protocolID, timeout: self.streamTimeout) { [weak self] r in
                    switch r {
                    case .success(let s):
                        completion(.success(s))
                    case .failure(let e):
                        guard let self else { return }
                        if c.isClosed && retry {
                            self.forget(c)
                            self.openStream(retry: false, completion)
                        } else if c.isClosed {
                            completion(.failure(ShimRefusal(.circuitFailed, "connection to \(self.name) closed: \(e)")))
                        } else {
                            completion(.failure(ShimRefusal(.streamRefused, "\(self.name) refused the stream: \(e)")))
                        }
                    }
                }
            }
        }
    }

    /// Closes the relayed connection, if any (callers waiting for one are refused).
    func close() {
        if let c = connection {
            connection = nil
            c.close(reason: "shim stopping")
        }
        let failed = waiters
        waiters.removeAll()
        for w in failed { w(.failure(ShimRefusal(.relayUnavailable, "shim stopping"))) }
    }

    // MARK: the circuit

    private func withConnection(_ body: @escaping (Result<Libp2pConnection, ShimRefusal>) -> Void) {
        if let c = connection, !c.isClosed {
            relayLink.host.loop.runSoon { body(.success(c)) }
            return
        }
        waiters.append(body)
        guard !connecting else { return }
        connecting = true
        relayLink.whenConnected { [weak self] r in
            guard let self else { return }
            switch r {
            case .failure(let refusal):
                self.finish(.failure(refusal))
            case .success:
                // The relay client finds the link's connection among the host's connections.
                self.relayClient.connect(to: self.peer) { [weak self] r in
                    guard let self else {
                        if case .success(let c) = r { c.close(reason: "shim stopping") }
                        return
                    }
                    switch r {
                    case .success(let c): self.adopt(c)
                    case .failure(let e): self.finish(.failure(ShimRefusal.circuit(e)))
                    }
                }
            }
        }
    }

    private func adopt(_ c: Libp2pConnection) {
        circuits += 1
        connection = c
        logger.info("shim_service_connected", ["service": name, "peer": peer, "circuit": circuits])
        let previous = c.onClose
        c.onClose = { [weak self] closed in
            previous?(closed)
            guard let self, closed === self.connection else { return }
            self.connection = nil
            self.logger.info("shim_service_lost", ["service": self.name, "peer": self.peer,
                                                   "reason": closed.closeReason ?? "no reason given"])
        }
        finish(.success(c))
    }

    private func forget(_ c: Libp2pConnection) {
        if c === connection { connection = nil }
    }

    private func finish(_ result: Result<Libp2pConnection, ShimRefusal>) {
        connecting = false
        if case .failure(let refusal) = result {
            logger.info("shim_service_unreachable", ["service": name, "peer": peer, "reason": refusal.reason,
                                                     "detail": refusal.detail])
        }
        let ready = waiters
        waiters.removeAll()
        for w in ready { w(result) }
    }
}
