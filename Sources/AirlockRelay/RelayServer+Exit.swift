import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockWire

/// Exit decisions (design §2 invariant 6): the relay holds the policy and the per-run
/// identities, so it answers for its own exit (`airlock relay --exit`) and, over
/// `/airlock/exit/policy/1.0.0`, for exit peers (`ExitPolicyServer`).
extension RelayServer {
    /// May `source` reach `host:port` through exit `exit` (by name; nil: the relay's own exit)?
    /// The policy's `mayExit`, then the source's run scope: an `--allow` list that leaves the
    /// exit out narrows it away. Pure: nothing is logged or counted here.
    public func exitDecision(from source: PeerID, exit: String?, host: NormalisedHost, port: UInt16) -> Policy.Decision {
        guard let name = exit ?? policy.relayExit?.name else {
            return Policy.Decision(reason: .unknownExit, text: "the policy names no exit at the relay (\"peer\": \"relay\")",
                                   source: policy.entry(for: source, bindings: bindings)?.name)
        }
        let d = policy.mayExit(from: source, exit: name, host: host, port: port, bindings: bindings)
        guard d.allowed, let only = runScopes[source]?.only, !only.contains(name) else { return d }
        return Policy.Decision(reason: .outsideRunScope, text: "exit \(name) is not in this run's --allow list", source: d.source)
    }

    /// `exitDecision` as the answer an exit works with. Pure too: asking is not refusing.
    public func exitVerdict(id: UInt64 = 0, from source: PeerID, exit: String?, host: NormalisedHost, port: UInt16) -> ExitVerdict {
        let d = exitDecision(from: source, exit: exit, host: host, port: port)
        return ExitVerdict(id: id, allowed: d.allowed, reason: d.reason.rawValue, text: d.text, agent: d.source)
    }

    /// Counts one exit request refused by policy or by the blocklist: by reason in the
    /// counters, among the recent refusals for `airlock status`, and for `--kill-on-deny`
    /// (`onPolicyRefusal`, with the target as `host:port via exit NAME`).
    public func noteExitRefusal(source: PeerID, sourceName: String?, exit: String, target: String, status: String, reason: String) {
        stats.exitsRefused[reason, default: 0] += 1
        noteRefusal(RelayRefusal(time: now(), kind: "exit", source: source, sourceName: sourceName, target: nil,
                                 targetName: target, status: status, reason: reason))
        onPolicyRefusal?(source, "\(target) via exit \(exit)", reason)
    }
}
