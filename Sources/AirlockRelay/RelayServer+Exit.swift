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

    /// `exitDecision` as a verdict, with a denial counted as a refusal: logged, kept for
    /// `airlock status` and passed to `onPolicyRefusal` (`--kill-on-deny`). `exitPeer` is the
    /// exit peer that asked (nil for the relay's own exit, whose requests it audits itself).
    public func exitVerdict(id: UInt64 = 0, from source: PeerID, exit: String?, exitPeer: PeerID? = nil,
                            host: NormalisedHost, port: UInt16) -> ExitVerdict {
        let d = exitDecision(from: source, exit: exit, host: host, port: port)
        let target = "\(host):\(port)"
        if !d.allowed {
            stats.exitsDenied[d.reason.rawValue, default: 0] += 1
            logger.info("exit_denied", ["src": source, "exit": exit ?? policy.relayExit?.name ?? "-", "target": target,
                                        "reason": d.reason.rawValue, "text": d.text])
            noteRefusal(RelayRefusal(time: now(), kind: "exit", source: source, sourceName: d.source, target: nil,
                                     targetName: target, status: "DENIED", reason: d.reason.rawValue))
            onPolicyRefusal?(source, "\(target) via exit \(exit ?? policy.relayExit?.name ?? "relay")", d.reason.rawValue)
        }
        if let exitPeer {
            audit?.record(event: "exit_check", decision: d.allowed ? "allow" : "deny", reason: d.reason.rawValue,
                          peer: source.description, target: target, agent: d.source,
                          fields: [("exit", .string(exit ?? "-")), ("exit_peer", .string(exitPeer.description))])
        }
        return ExitVerdict(id: id, allowed: d.allowed, reason: d.reason.rawValue, text: d.text, agent: d.source)
    }
}
