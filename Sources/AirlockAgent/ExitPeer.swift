import AirlockCore
import AirlockIO
import AirlockRelay
import AirlockWire

/// An exit that runs as its own peer (`airlock exit`): it reserves on the relay like a service
/// (the policy lists its peer ID under `exits`), takes agents' circuits through its reservation,
/// and serves `/airlock/exit/1.0.0` on them (`ExitService`), asking the relay about each request
/// over its reservation's connection (`ExitPolicyClient`) and re-checking what it holds open
/// after each reload the relay announces.
///
/// **Thread:** the host's loop only; create it there too.
public final class ExitPeer {
    public let name: String
    public let host: Host
    public let relayClient: RelayClient
    public let policy: ExitPolicyClient
    public let service: ExitService
    let stopHandler: StopHandler
    let logger: Logger

    /// Every RESERVE outcome, passed on from the relay client.
    public var onReservation: ((Result<Reservation, RelayClientError>) -> Void)?

    public init(name: String, host: Host, relay: SocketAddress, relayPeer: PeerID, resolver: any NameResolver,
                settings: ExitService.Settings = ExitService.Settings(), logger: Logger) {
        self.name = name
        self.host = host
        self.logger = logger
        relayClient = RelayClient(host: host, relay: relay, relayPeer: relayPeer, logger: logger)
        let policy = ExitPolicyClient(relayClient: relayClient, logger: logger)
        self.policy = policy
        var s = settings
        s.relayedOnly = true
        service = ExitService(host: host, name: name, resolver: resolver, settings: s, logger: logger) { source, h, port, purpose, done in
            policy.check(source: source, host: h, port: port, purpose: purpose, done)
        }
        stopHandler = StopHandler(host: host, logger: logger)
    }

    /// Serves and starts reserving. Call once, on the loop.
    public func start() {
        stopHandler.onCircuit = { [weak self] c, limit in
            self?.logger.info("exit_circuit", ["exit": self?.name ?? "-", "peer": c.remotePeer, "limit_s": limit?.duration ?? 0])
        }
        stopHandler.install()
        policy.onReload = { [weak self] in self?.service.recheck() }
        service.start()
        relayClient.onReservation = { [weak self] r in self?.onReservation?(r) }
        relayClient.start()
    }

    /// Drops the reservation and cuts every bridged connection.
    public func stop() {
        service.stop()
        host.removeHandler(ProtocolID.stop)
        relayClient.stop()
    }
}
