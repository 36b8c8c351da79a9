#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockRelay

/// The operator requests of the control socket: `reload` and `status` (`ControlProtocol+Status`).
extension AgentManager {
    /// `reload`: root or the policy file's owner re-reads the file; a file that does not
    /// validate is refused with every problem and changes nothing.
    func reload(from caller: ControlPeer) throws(Refusal) {
        guard let path = policyPath, let reloadPolicy else { throw Refusal("this relay does not reload its policy on request") }
        if caller.uid != 0 {
            var st = stat()
            guard stat(path, &st) == 0 else { throw Refusal("cannot stat the policy \(path): \(String(cString: strerror(errno)))") }
            guard st.st_uid == caller.uid else {
                throw Refusal("only root and the owner of \(path) (uid \(st.st_uid)) may reload the policy; you are uid \(caller.uid)")
            }
        }
        logger.info("policy_reload_requested", ["uid": caller.uid, "pid": caller.pid, "file": path])
        switch reloadPolicy() {
        case .success(let o):
            var file = path  // absolute, so the caller can compare it with the file it edited
            if let r = realpath(path, nil) { file = String(cString: r); free(r) }
            reply(caller, "reloaded", ControlProtocol.Reloaded(file: file, rules: server.policy.rules.count, circuitsClosed: o.circuitsClosed,
                                                              connectsRefused: o.connectsRefused, reservationsEnded: o.reservationsEnded,
                                                              exitsClosed: o.exitsClosed))
        case .failure(let e):
            let shown = e.problems.prefix(20).map(\.description)
            let more = e.problems.count > shown.count ? "\n… and \(e.problems.count - shown.count) more" : ""
            throw Refusal("the policy \(path) does not validate; the last good policy stays:\n" + shown.joined(separator: "\n") + more)
        }
    }

    /// `status`: agents, reservations, circuits and recent refusals, filtered to the caller's
    /// own unless it is root.
    func status(for caller: ControlPeer) {
        let policy = server.policy
        let all = caller.uid == 0
        let mine = Set(policy.agents.filter { all || $0.uid == caller.uid }.map(\.name))
        func ownPeer(_ p: PeerID) -> Bool {
            all || (policy.agent(for: p, bindings: server.bindings).map { mine.contains($0.name) } ?? false)
        }
        let circuits = server.circuits.filter { ownPeer($0.source) }
        var perPeer: [PeerID: Int] = [:]
        for c in circuits { perPeer[c.source, default: 0] += 1 }

        let agents = runs.values.filter { all || mine.contains($0.agent) }.sorted { $0.name < $1.name }.map { run in
            ControlProtocol.Status.Agent(name: run.name, agent: run.agent, kind: run.isRun ? "run" : "attachment",
                                         uid: policy.agent(named: run.agent)?.uid ?? 0, peer: "\(run.peer)",
                                         agentAddress: hub.agent(named: run.name).map { "\($0.agentAddress)" } ?? "-",
                                         seconds: Double(run.created.nanoseconds(until: .now())) / 1e9, circuits: perPeer[run.peer] ?? 0)
        }
        let reachable = Set(policy.rules.filter { mine.contains($0.from) }.map(\.to))
        let now = RelayServer.unixSeconds()
        let reservations = server.reservations.compactMap { e -> ControlProtocol.Status.Reservation? in
            let name = policy.entry(for: e.peer, bindings: server.bindings)?.name
            guard all || name.map(reachable.contains) == true else { return nil }
            return .init(peer: "\(e.peer)", name: name, expire: e.expire, expiresIn: max(0, Double(e.expire) - now))
        }
        func name(_ p: PeerID) -> String? { policy.entry(for: p, bindings: server.bindings)?.name }
        let refusals = server.recentRefusals.filter { ownPeer($0.source) }.map {
            ControlProtocol.Status.Refusal(time: $0.time, kind: $0.kind, source: "\($0.source)", sourceName: $0.sourceName,
                                           target: $0.target.map { "\($0)" }, targetName: $0.targetName, status: $0.status, reason: $0.reason)
        }
        let exits = (exit?.status ?? []).filter { ownPeer($0.info.source) }.map { c in
            ControlProtocol.Status.Exit(source: "\(c.info.source)", sourceName: name(c.info.source), target: "\(c.info.host):\(c.info.port)",
                                        address: "\(c.info.address)", bytesUp: c.bytesOut, bytesDown: c.bytesIn,
                                        seconds: Double(c.info.opened.nanoseconds(until: .now())) / 1e9)
        }
        let counters = all ? Dictionary(server.counters.named.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }) : [:]
        let body = ControlProtocol.Status.fitting { cap in
            ControlProtocol.Status(
                relay: "\(server.host.peerID)", policy: policyPath ?? "-", time: now,
                agents: Array(agents.prefix(cap)), reservations: Array(reservations.prefix(cap)),
                circuits: circuits.prefix(cap).map {
                    .init(source: "\($0.source)", sourceName: name($0.source), target: "\($0.target)", targetName: name($0.target),
                          bytesUp: $0.bytesUp, bytesDown: $0.bytesDown, seconds: $0.age)
                },
                refusals: Array(refusals.suffix(cap)), exits: Array(exits.prefix(cap)),
                agentsTotal: agents.count, reservationsTotal: reservations.count, circuitsTotal: circuits.count,
                refusalsTotal: refusals.count, exitsTotal: exits.count, counters: counters)
        }
        reply(caller, "status", body)
    }
}
