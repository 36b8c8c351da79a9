import AirlockPolicy

/// What `allow` and `deny` share.
enum PolicyEdit {
    static func run(_ args: [String], help: String, allow: Bool) throws -> Int32 {
        let parsed = try Arguments(args, options: ["policy", "control"], flags: ["no-reload"])
        if parsed.wantsHelp { Output.out(help); return 0 }
        let operands = CommandGroup.operands(parsed)
        guard operands.count >= 2 else { throw Arguments.UsageError("AGENT and TARGET are needed") }
        let from = operands[0], to = operands[1]
        var destinations: [Destination] = []
        for text in operands.dropFirst(2) {
            switch Destination.parse(text) {
            // The same destination twice (in any spelling) counts once.
            case .success(let d): if !destinations.contains(d) { destinations.append(d) }
            case .failure(let e): throw Arguments.UsageError("destination \(text): \(e)")
            }
        }
        let path = PolicyCommand.path(try parsed.value("policy"))
        let control = try parsed.value("control") ?? "/run/airlock/control.sock"
        var message = ""
        var stillAllowed: [String] = []
        let (_, changed) = try PolicyFile.edit(path) { (p: Policy) throws(CommandFailure) -> Policy in
            try check(p, path: path, from: from, to: to, destinations: destinations, allow: allow)
            let (rules, text) = allow ? added(p, from: from, to: to, destinations) : removed(p, from: from, to: to, destinations)
            message = text
            if !allow { stillAllowed = still(rules, from: from, to: to, destinations) }
            return try PolicyFile.with(p, rules: rules, shown: path)
        }
        Output.out(changed ? "\(message) (\(path))" : "\(message); \(path) is unchanged")
        let status = changed ? try PolicyReload.afterEdit(path, control: control, skip: parsed.has("no-reload")) : 0
        // What was asked denied but another destination of the rule still allows: say so, and
        // fail, since the command did not do what it was asked.
        for line in stillAllowed { CLI.printErr("airlock: \(line)") }
        return stillAllowed.isEmpty ? status : 2
    }

    /// For each single host and port asked denied that a destination left in the rule still
    /// matches: `a.example.test:443 is still allowed by *.example.test:443 (rule coder → web)`.
    static func still(_ rules: [Policy.Rule], from: String, to: String, _ destinations: [Destination]) -> [String] {
        guard let rule = rules.first(where: { $0.from == from && $0.to == to }) else { return [] }
        return destinations.compactMap { d -> String? in
            guard d.ports.lower == d.ports.upper else { return nil }
            let host: NormalisedHost
            switch d.host {
            case .exact(let name): host = .name(name)
            case .address(let a): host = .address(a)
            case .subdomains, .network: return nil
            }
            guard let other = rule.destinations.first(where: { $0.matches(host: host, port: d.ports.lower) }) else { return nil }
            return "\(d) is still allowed by \(other) (rule \(from) → \(to)); deny that destination to end it"
        }
    }

    /// Refuses operands the policy cannot take, with what it can.
    static func check(_ p: Policy, path: String, from: String, to: String, destinations: [Destination], allow: Bool) throws(CommandFailure) {
        guard let source = p.entry(named: from) else {
            let names = (p.agents.map(\.name) + p.peers.map(\.name) + p.services.map(\.name)).sorted()
            throw CommandFailure("\(path): nothing is named \(from); AGENT must be an agent, a peer or a service\(names.isEmpty ? " (the policy lists none)" : ": " + names.joined(separator: ", "))")
        }
        if case .exit = source { throw CommandFailure("\(path): \(from) is an exit; an exit cannot be a rule's source") }
        guard let target = p.entry(named: to) else {
            let names = (p.services.map(\.name) + p.exits.map(\.name)).sorted()
            throw CommandFailure("\(path): nothing is named \(to); TARGET must be a service or an exit\(names.isEmpty ? " (the policy lists none)" : ": " + names.joined(separator: ", "))")
        }
        switch target {
        case .service:
            if !destinations.isEmpty { throw CommandFailure("\(to) is a service; HOST:PORT applies to exits only; leave it out") }
        case .exit:
            if allow && destinations.isEmpty && p.rule(from: from, to: to) == nil {
                throw CommandFailure("\(to) is an exit; name the HOST:PORT destinations \(from) may reach through it, as in: airlock allow \(from) \(to) api.github.com:443")
            }
        case .agent, .peer:
            throw CommandFailure("\(path): \(to) is \(target.kind == "agent" ? "an agent" : "a peer"); TARGET must be a service or an exit")
        }
    }

    static func added(_ p: Policy, from: String, to: String, _ destinations: [Destination]) -> ([Policy.Rule], String) {
        var rules = p.rules
        guard let i = rules.firstIndex(where: { $0.from == from && $0.to == to }) else {
            rules.append(Policy.Rule(from: from, to: to, destinations: destinations))
            return (rules, "allowed \(from) → \(to)" + list(destinations))
        }
        let new = destinations.filter { !rules[i].destinations.contains($0) }
        guard !new.isEmpty else { return (rules, "\(from) → \(to)\(list(destinations)) is already allowed") }
        rules[i].destinations += new
        return (rules, "allowed \(from) → \(to)" + list(new))
    }

    static func removed(_ p: Policy, from: String, to: String, _ destinations: [Destination]) -> ([Policy.Rule], String) {
        var rules = p.rules
        guard let i = rules.firstIndex(where: { $0.from == from && $0.to == to }) else {
            return (rules, "no rule allows \(from) → \(to), so it is already denied")
        }
        if destinations.isEmpty {
            rules.remove(at: i)
            return (rules, "denied \(from) → \(to) (rule removed)")
        }
        let gone = destinations.filter { rules[i].destinations.contains($0) }
        guard !gone.isEmpty else { return (rules, "the rule \(from) → \(to) has none of\(list(destinations)), so they are already denied") }
        rules[i].destinations.removeAll { gone.contains($0) }
        if rules[i].destinations.isEmpty {
            rules.remove(at: i)
            return (rules, "denied \(from) → \(to)" + list(gone) + " (its last destinations: rule removed)")
        }
        return (rules, "denied \(from) → \(to)" + list(gone))
    }

    private static func list(_ d: [Destination]) -> String {
        d.isEmpty ? "" : " " + d.map(\.description).joined(separator: " ")
    }
}
