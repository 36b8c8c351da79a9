import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockWire

/// Policy reload (design §2 invariant 7): the new policy takes every new decision at once, and
/// whatever the old one allowed that the new one does not is ended when the reload is applied.
extension RelayServer {
    /// What a reload ended: circuits closed, CONNECTs in progress refused, reservations dropped.
    public struct ReloadOutcome: Sendable, Equatable {
        public var circuitsClosed = 0
        public var connectsRefused = 0
        public var reservationsEnded = 0
        /// Connections the relay's own exit held that the new policy does not allow.
        public var exitsClosed = 0
        public init() {}
    }

    /// Swaps the policy, then re-decides everything live under it (`revoke`). The swap and the
    /// re-check run in one turn of the loop, so no decision ever sees the new policy without the
    /// old grants already gone. `policy` is a checked value: a malformed file never gets here
    /// (`Policy.load` refuses it and the caller keeps the old one).
    @discardableResult
    public func reload(policy: Policy) -> ReloadOutcome {
        self.policy = policy
        var outcome = revoke()
        outcome.exitsClosed = onReload?(policy) ?? 0
        logger.info("policy_reloaded", ["rules": policy.rules.count, "circuits_closed": outcome.circuitsClosed,
                                        "connects_refused": outcome.connectsRefused, "reservations_ended": outcome.reservationsEnded,
                                        "exits_closed": outcome.exitsClosed])
        let extra: [(String, AuditLog.Value)] = [("rules", .int(policy.rules.count)), ("circuits_closed", .int(outcome.circuitsClosed)),
                                                 ("connects_refused", .int(outcome.connectsRefused)),
                                                 ("reservations_ended", .int(outcome.reservationsEnded)),
                                                 ("exits_closed", .int(outcome.exitsClosed))]
        audit?.record(event: "reload", decision: "allow", reason: "valid", fields: extra)
        return outcome
    }

    /// Re-decides every live circuit, every CONNECT still waiting for its STOP answer and every
    /// reservation under the current policy, bindings and run scopes, and ends those now denied:
    /// a circuit is reset on both sides (`circuit_revoked`, then `circuit_closed` with its bytes),
    /// a pending CONNECT is answered PERMISSION_DENIED, a reservation is removed
    /// (`reservation_ended reason=revoked`). Limits are not re-applied to circuits already open:
    /// a circuit keeps the `Limit` it was granted with.
    @discardableResult
    public func revoke() -> ReloadOutcome {
        var outcome = ReloadOutcome()
        for id in circuitsByID.keys.sorted() {
            guard let c = circuitsByID[id] else { continue }
            let d = connectDecision(from: c.source, to: c.target)
            guard !d.allowed else { continue }
            logger.info("circuit_revoked", ["src": c.source, "dst": c.target, "circuit": id, "reason": d.reason.rawValue, "text": d.text])
            let extra: [(String, AuditLog.Value)] = [("what", .string("circuit")), ("circuit", .uint(id))]
            audit?.record(event: "revoke", decision: "deny", reason: d.reason.rawValue, peer: c.source, target: c.target,
                          agent: d.source, fields: extra)
            c.close("revoked: \(d.reason.rawValue)", reset: true)
            outcome.circuitsClosed += 1
        }
        for x in Array(exchanges.values) {
            guard !x.finished, let slot = x.slot else { continue }
            let d = connectDecision(from: slot.source, to: slot.target)
            guard !d.allowed else { continue }
            refuseConnect(x, .permissionDenied, target: slot.target, d.reason.rawValue, "revoked by reload: \(d.text)")
            audit?.record(event: "revoke", decision: "deny", reason: d.reason.rawValue, peer: slot.source, target: slot.target,
                          agent: d.source, fields: [("what", .string("connect"))])
            outcome.connectsRefused += 1
        }
        for e in table.entries {
            let d = policy.mayReserve(peer: e.peer, bindings: bindings)
            guard !d.allowed else { continue }
            table.remove(peer: e.peer)
            reservationEnded(e, reason: "revoked")
            audit?.record(event: "revoke", decision: "deny", reason: d.reason.rawValue, peer: e.peer, agent: d.source,
                          fields: [("what", .string("reservation"))])
            outcome.reservationsEnded += 1
        }
        return outcome
    }

    /// The CONNECT decision as `connect` makes it: the policy, then the source's run scope.
    func connectDecision(from source: PeerID, to target: PeerID) -> Policy.Decision {
        policy.scoped(policy.mayConnect(from: source, to: target, bindings: bindings),
                      target: target, scope: runScopes[source], bindings: bindings)
    }
}

extension RelayServer {
    /// Records a reload that was refused (the file did not validate): `policy_reload_refused` at
    /// `error` with every problem, and a `reload` audit line. The current policy stays.
    public func reloadRefused(file: String, problems: [String]) {
        logger.error("policy_reload_refused", ["file": file, "reason": problems.joined(separator: "\n")])
        let extra: [(String, AuditLog.Value)] = [("file", .string(file)), ("problems", .string(problems.joined(separator: "\n")))]
        audit?.record(event: "reload", decision: "deny", reason: "invalid", fields: extra)
    }
}
