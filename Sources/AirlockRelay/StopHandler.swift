import AirlockCore
import AirlockIO
import AirlockWire

/// Serves `/libp2p/circuit/relay/0.2.0/stop` on a host (wire.md §5.5 steps 3–7): a relay holding
/// our reservation announces a circuit with STOP CONNECT naming the source peer; we ask `accept`,
/// answer STATUS OK (or PERMISSION_DENIED), and on OK upgrade the stream as the listener side.
/// The result is an ordinary host connection: `host.onConnection` fires and its streams go to
/// the host's handlers.
///
/// The source named in CONNECT is only the relay's claim; the Noise handshake proves who is
/// really there, and the upgrade expects that identity, so a connection proving another one is
/// refused before any stream runs.
///
/// **Thread:** the host's loop only.
public final class StopHandler {
    public let host: Host
    let logger: Logger
    let accept: (PeerID) -> Bool
    /// Seconds the relay has to send CONNECT after opening the stream (go waits 10 s, §5.6).
    public var messageTimeout: Double = 10
    /// Called for each circuit accepted and upgraded, with the limit the relay announced.
    public var onCircuit: ((Libp2pConnection, Limit?) -> Void)?

    public init(host: Host, logger: Logger, accept: @escaping (PeerID) -> Bool = { _ in true }) {
        self.host = host
        self.logger = logger
        self.accept = accept
    }

    /// Registers the stop handler on `host`.
    public func install() {
        host.handle(ProtocolID.stop) { [weak self] s in
            guard let self else { s.reset(); return }
            self.serve(s)
        }
    }

    private func serve(_ s: Libp2pStream) {
        // A relay reaches us on a direct connection; a stop over a circuit would nest circuits.
        guard !s.connection.isRelayed else { refuse(s, .permissionDenied, "stop stream over a relayed connection"); return }
        let timer = host.loop.schedule(after: RelayClient.duration(messageTimeout)) { [weak s] in s?.reset() }
        s.onReadable = { [weak self, unowned s] in self?.read(s, timer) }
        s.onEnd = { [weak self] _ in self?.host.loop.cancel(timer) }
    }

    private func read(_ s: Libp2pStream, _ timer: TimerID) {
        let msg: StopMessage
        do {
            guard let body = try s.readMessage(cap: RelayClient.maxMessageLength) else { return }
            host.loop.cancel(timer)
            msg = try StopMessage(decoding: body[...])
        } catch {
            host.loop.cancel(timer)
            refuse(s, .malformedMessage, "malformed STOP message: \(error)")
            return
        }
        guard msg.type == .connect else { refuse(s, .unexpectedMessage, "expected CONNECT, got \(msg.type)"); return }
        guard let source = msg.peer?.id else { refuse(s, .malformedMessage, "CONNECT without a source peer"); return }
        guard accept(source) else { refuse(s, .permissionDenied, "source \(source) not accepted"); return }

        s.onReadable = nil
        s.onEnd = nil
        s.send(StopMessage.status(.ok).framed())
        let relayPeer = s.connection.remotePeer
        logger.debug("relay_circuit_accepted", ["relay": relayPeer, "peer": source,
                                                "limit_s": msg.limit?.duration ?? 0, "limit_bytes": msg.limit?.data ?? 0])
        // Bytes after CONNECT in the inbox already belong to the circuit: the upgrade reads them first.
        RelayClient.upgrade(host, s, asDialer: false, expect: source) { [weak self] r in
            switch r {
            case .success(let c):
                self?.onCircuit?(c, msg.limit)
            case .failure(let e):
                self?.logger.info("relay_circuit_failed", ["relay": relayPeer, "peer": source, "reason": e.message])
            }
        }
    }

    /// Answers with an error status, half-closes, and resets if the relay does not close soon.
    private func refuse(_ s: Libp2pStream, _ status: RelayStatus, _ reason: String) {
        logger.info("relay_stop_refused", ["relay": s.connection.remotePeer, "status": status, "reason": reason])
        s.onEnd = nil
        s.onReadable = { [unowned s] in _ = s.take() }
        _ = s.take()
        s.send(StopMessage.status(status).framed())
        s.closeWrite()
        host.loop.schedule(after: RelayClient.duration(5)) { [weak s] in s?.reset() }
    }
}
