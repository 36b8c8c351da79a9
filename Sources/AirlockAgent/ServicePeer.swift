import AirlockCore
import AirlockIO
import AirlockRelay
import AirlockWire

/// A service peer (design.md §4, `airlock expose`): holds a reservation on one relay and serves
/// `/airlock/tcp/1.0.0` by connecting each stream to one local TCP target and bridging the two.
///
/// Parts: the host (its identity is the service's peer ID in the policy), a `RelayClient` that
/// reserves and keeps the reservation (it reconnects and re-reserves with back-off when the relay
/// goes away), a `StopHandler` through which the relay hands over circuits, and the stream handler.
/// Who may reach the service is the relay's decision (policy); the Noise handshake of each circuit
/// proves the source's identity, which is what the logs show.
///
/// Streams are served only on relayed connections: the service never listens, so its only direct
/// connection is the relay's, and the relay is not an agent.
///
/// Each stream gets a fresh TCP connection to `target`; a refused or failed connect resets the
/// stream (the agent's client sees its connection cut). The bridge is started at once, so bytes
/// the agent sent first are queued on the connecting socket rather than waited for.
///
/// **Thread:** the host's loop only; create it there too.
public final class ServicePeer {
    /// The service's name, as in the policy (for logs and the ready line).
    public let name: String
    public let host: Host
    public let target: SocketAddress
    public let relayClient: RelayClient
    let stopHandler: StopHandler
    let logger: Logger

    /// Every RESERVE outcome, passed on from the relay client (grants include refreshes).
    public var onReservation: ((Result<Reservation, RelayClientError>) -> Void)?

    /// Streams accepted, and those whose bridge has finished; bridges running now.
    public private(set) var streamsOpened = 0
    public private(set) var streamsFinished = 0
    public var streamsActive: Int { streamsOpened - streamsFinished }
    /// Streams whose target connect failed.
    public private(set) var targetFailures = 0
    /// Bytes copied over all finished streams: agent → target, and target → agent.
    public private(set) var bytesToTarget: UInt64 = 0
    public private(set) var bytesFromTarget: UInt64 = 0

    private var running = false

    public init(name: String, host: Host, target: SocketAddress, relay: SocketAddress, relayPeer: PeerID, logger: Logger) {
        self.name = name
        self.host = host
        self.target = target
        self.logger = logger
        relayClient = RelayClient(host: host, relay: relay, relayPeer: relayPeer, logger: logger)
        stopHandler = StopHandler(host: host, logger: logger)
    }

    /// Installs the handlers and starts reserving. Call once, on the loop.
    public func start() {
        precondition(!running, "ServicePeer started twice")
        running = true
        stopHandler.onCircuit = { [weak self] c, limit in
            self?.logger.info("service_circuit", ["service": self?.name ?? "-", "peer": c.remotePeer,
                                                   "limit_s": limit?.duration ?? 0, "limit_bytes": limit?.data ?? 0])
        }
        stopHandler.install()
        host.handle(ProtocolID.airlockTCP) { [weak self] s in
            guard let self, self.running else { s.reset(); return }
            self.serve(s)
        }
        relayClient.onReservation = { [weak self] r in self?.onReservation?(r) }
        relayClient.start()
    }

    /// Drops the reservation and the relay connection; running bridges are cut with the host's
    /// connections when the caller shuts the host down.
    public func stop() {
        guard running else { return }
        running = false
        host.removeHandler(ProtocolID.airlockTCP)
        host.removeHandler(ProtocolID.stop)
        relayClient.stop()
    }

    // MARK: streams

    private func serve(_ s: Libp2pStream) {
        let peer = s.remotePeer
        guard s.connection.isRelayed else {
            logger.warn("service_stream_refused", ["service": name, "peer": peer, "reason": "direct-connection"])
            s.reset()
            return
        }
        streamsOpened += 1
        let tcp = TCPConnection.connect(to: target, on: host.loop)
        var connected = false
        tcp.onConnect = { connected = true }
        let bridge = TCPBridge(tcp: tcp, stream: s)
        bridge.onFinish = { [weak self] b in
            self?.finished(b, peer: peer, connected: connected)
        }
        logger.debug("service_stream_open", ["service": name, "peer": peer, "stream": s.id, "target": target])
        bridge.start()
    }

    private func finished(_ b: TCPBridge, peer: PeerID, connected: Bool) {
        streamsFinished += 1
        bytesToTarget += b.bytesToTCP
        bytesFromTarget += b.bytesToStream
        let outcome = ServicePeer.describe(b.outcome)
        if !connected, case .tcpFailed(let e)? = b.outcome {
            targetFailures += 1
            logger.warn("service_target_failed", ["service": name, "peer": peer, "target": target, "reason": e])
            return
        }
        // Agent → target is what the bridge wrote to TCP; target → agent what it put on the stream.
        logger.info("service_stream", ["service": name, "peer": peer, "bytes_in": b.bytesToTCP,
                                       "bytes_out": b.bytesToStream, "outcome": outcome])
    }

    static func describe(_ outcome: TCPBridge.Outcome?) -> String {
        switch outcome {
        case .completed?: "completed"
        case .streamFailed(let end)?: "stream-\(end)"
        case .tcpFailed(let e)?: "tcp-\(e)"
        case nil: "unknown"
        }
    }
}
