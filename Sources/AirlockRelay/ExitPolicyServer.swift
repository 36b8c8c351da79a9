import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockWire

/// The relay's side of `/airlock/exit/policy/1.0.0` (`ExitCheck`, `ExitVerdict`): exit peers
/// that run apart from the relay ask it, per request, whether a source may reach `host:port`
/// through them. Only a peer the policy lists as an exit (`"peer": "<its ID>"`), on a direct
/// connection, is answered; anyone else's stream is reset. Each check is answered at once from
/// the current policy (`RelayServer.exitVerdict`), audited as `exit_check`; after every reload
/// each open stream gets a reload notice so the exit re-checks what it holds open.
///
/// **Thread:** the host's loop only.
public final class ExitPolicyServer {
    public let server: RelayServer
    let logger: Logger
    private var streams: [ObjectIdentifier: Libp2pStream] = [:]
    private var running = false

    public init(server: RelayServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    /// Serves the protocol and sends reload notices after each reload (chaining any existing
    /// `server.onReload`). Call once, on the loop.
    public func start() {
        guard !running else { return }
        running = true
        server.host.handle(ProtocolID.airlockExitPolicy) { [weak self] s in
            guard let self, self.running else { s.reset(); return }
            self.accept(s)
        }
        let previous = server.onReload
        server.onReload = { [weak self] policy in
            let closed = previous?(policy) ?? 0
            self?.notifyReload()
            return closed
        }
    }

    public func stop() {
        guard running else { return }
        running = false
        server.host.removeHandler(ProtocolID.airlockExitPolicy)
        for s in streams.values { s.reset() }
        streams.removeAll()
    }

    private func accept(_ s: Libp2pStream) {
        let peer = s.remotePeer
        guard !s.connection.isRelayed, let exit = server.policy.exit(for: peer), case .peer = exit.location else {
            logger.warn("exit_policy_refused", ["peer": peer, "reason": s.connection.isRelayed ? "relayed" : "not-an-exit"])
            s.reset()
            return
        }
        let key = ObjectIdentifier(s)
        streams[key] = s
        logger.info("exit_policy_open", ["peer": peer, "exit": exit.name])
        s.onEnd = { [weak self] _ in self?.streams[key] = nil }
        s.onReadable = { [weak self, unowned s] in self?.read(s) }
        read(s)
    }

    private func read(_ s: Libp2pStream) {
        while true {
            let check: ExitCheck
            do {
                guard let body = try s.readMessage(cap: ExitWire.maxMessageLength) else { return }
                check = try ExitCheck(decoding: body[...])
            } catch {
                logger.warn("exit_policy_bad_message", ["peer": s.remotePeer, "reason": error])
                s.reset()
                return
            }
            s.send(answer(check, from: s.remotePeer).framed())
        }
    }

    /// The verdict for one check, by the exit the asking peer is in the current policy.
    func answer(_ check: ExitCheck, from exitPeer: PeerID) -> ExitVerdict {
        guard let exit = server.policy.exit(for: exitPeer) else {
            return ExitVerdict(id: check.id, allowed: false, reason: Policy.Decision.Reason.unknownExit.rawValue,
                               text: "peer \(exitPeer) is no longer an exit in the policy")
        }
        guard case .success(let host) = NormalisedHost.parse(Substring(check.host)) else {
            return ExitVerdict(id: check.id, allowed: false, reason: "bad-host", text: "\(check.host) is not a host")
        }
        let v = server.exitVerdict(id: check.id, from: check.peer, exit: exit.name, host: host, port: check.port)
        let target = "\(host):\(check.port)"
        if check.purpose != .recheck {
            server.audit?.record(event: "exit_check", decision: v.allowed ? "allow" : "deny", reason: v.reason,
                                 peer: check.peer.description, target: target, agent: v.agent,
                                 fields: [("exit", .string(exit.name)), ("exit_peer", .string(exitPeer.description)),
                                          ("purpose", .string(check.purpose == .address ? "address" : "request"))])
        }
        // Only an agent's own request that the policy refuses is a refusal (an address asked about
        // for the blocklist, or a re-check after a reload, is the exit's question).
        if check.purpose == .request && !v.allowed {
            logger.info("exit_denied", ["src": check.peer, "exit": exit.name, "target": target, "reason": v.reason, "text": v.text])
            server.noteExitRefusal(source: check.peer, sourceName: v.agent, exit: exit.name, target: target, status: "DENIED", reason: v.reason)
        }
        return v
    }

    private func notifyReload() {
        for s in streams.values { s.send(ExitVerdict.reloadNotice.framed()) }
    }
}
