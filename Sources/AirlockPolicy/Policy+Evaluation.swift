import AirlockCore

/// The decisions of design §2 invariant 4. Each is a pure function of the policy, the bindings
/// and the request, so the relay can re-run them after a reload to close what is no longer allowed.
extension Policy {
    /// RESERVE: only listed services and exit peers may hold a reservation.
    public func mayReserve(peer: PeerID, bindings: Bindings = Bindings()) -> Decision {
        switch entry(for: peer, bindings: bindings) {
        case .service(let s)?:
            return Decision(reason: .service, text: "service \(s.name) may reserve", source: s.name)
        case .exit(let e)?:
            return Decision(reason: .exit, text: "exit \(e.name) may reserve", source: e.name)
        case let e?:
            return Decision(reason: .notAService, text: "\(e.kind) \(e.name) is not a service or exit, so it may not reserve", source: e.name)
        case nil:
            return Decision(reason: .unknownPeer, text: "peer \(peer) is not in the policy")
        }
    }

    /// CONNECT from `from` to `to` (the target's peer ID, a service or an exit peer): allowed
    /// only by a rule naming both. For an exit target the destinations are checked later, per
    /// request, by `mayExit`.
    public func mayConnect(from: PeerID, to: PeerID, bindings: Bindings = Bindings()) -> Decision {
        guard let source = entry(for: from, bindings: bindings) else {
            return Decision(reason: .unknownPeer, text: "source peer \(from) is not in the policy")
        }
        guard let target = entry(for: to, bindings: bindings) else {
            return Decision(reason: .unknownTarget, text: "target peer \(to) is not in the policy", source: source.name)
        }
        switch target {
        case .service, .exit: break
        case .agent, .peer:
            return Decision(reason: .notATarget, text: "\(target.kind) \(target.name) cannot be connected to", source: source.name)
        }
        return connect(source, to: target)
    }

    /// CONNECT by entry names, as the relay's built-in exit or a status command asks it.
    public func mayConnect(from: PeerID, toNamed name: String, bindings: Bindings = Bindings()) -> Decision {
        guard let source = entry(for: from, bindings: bindings) else {
            return Decision(reason: .unknownPeer, text: "source peer \(from) is not in the policy")
        }
        switch entry(named: name) {
        case nil:
            return Decision(reason: .unknownTarget, text: "no service or exit named \(name)", source: source.name)
        case let target?:
            if case .agent = target { return Decision(reason: .notATarget, text: "agent \(name) cannot be connected to", source: source.name) }
            if case .peer = target { return Decision(reason: .notATarget, text: "peer \(name) cannot be connected to", source: source.name) }
            return connect(source, to: target)
        }
    }

    private func connect(_ source: Entry, to target: Entry) -> Decision {
        guard let r = rule(from: source.name, to: target.name) else {
            return Decision(reason: .noRule, text: "no rule from \(source.kind) \(source.name) to \(target.kind) \(target.name)", source: source.name)
        }
        return Decision(reason: .rule, text: "rule \(source.name) → \(target.name)", source: source.name, limits: limits(of: source, rule: r))
    }

    /// An exit request: may `from` reach `host:port` through exit `exit` (by name)? The host must
    /// already be normalised; a name matches only name patterns and an address only address
    /// patterns (the exit checks the addresses a name resolves to separately).
    public func mayExit(from: PeerID, exit name: String, host: NormalisedHost, port: UInt16, bindings: Bindings = Bindings()) -> Decision {
        guard let source = entry(for: from, bindings: bindings) else {
            return Decision(reason: .unknownPeer, text: "source peer \(from) is not in the policy")
        }
        guard exit(named: name) != nil else {
            return Decision(reason: .unknownExit, text: "no exit named \(name)", source: source.name)
        }
        guard let r = rule(from: source.name, to: name) else {
            return Decision(reason: .noRule, text: "no rule from \(source.kind) \(source.name) to exit \(name)", source: source.name)
        }
        guard let d = r.destinations.first(where: { $0.matches(host: host, port: port) }) else {
            return Decision(reason: .noDestination, text: "\(host):\(port) matches no destination of rule \(source.name) → \(name)", source: source.name)
        }
        return Decision(reason: .destination, text: "\(host):\(port) allowed by \(d) in rule \(source.name) → \(name)",
                        source: source.name, limits: limits(of: source, rule: r))
    }

    /// The agent's limits (when the source is an agent) tightened by the rule's.
    private func limits(of source: Entry, rule: Rule) -> Limits {
        guard case .agent(let a) = source else { return rule.limits }
        return a.limits.tightened(by: rule.limits)
    }
}
