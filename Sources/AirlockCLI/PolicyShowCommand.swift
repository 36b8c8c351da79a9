import AirlockPolicy

/// `airlock policy show`: the policy as tables an operator can read, or its canonical JSON.
public enum PolicyShowCommand: Command {
    public static let name = "show"
    public static let summary = "print the policy as tables or canonical JSON"

    public static let help = """
        usage: airlock policy show [--policy FILE] [--json]

        Prints the policy's agents (name, uid, identity, limits), services, exits, peers and rules
        as tables, entries sorted by name and rules in file order. An invalid file prints its
        problems and nothing else.

        options:
          --policy FILE  the policy file (else $\(PolicyCommand.environmentVariable), else \(PolicyCommand.defaultPath))
          --json         print the canonical JSON form instead (docs/policy.md, "Canonical form")
          -h, --help     show this help

        exit status: 0 shown, 1 invalid or unreadable policy, 64 usage error.

        example:
          airlock policy show --policy /etc/airlock/policy.json
        """

    public static func run(_ args: [String]) throws -> Int32 {
        let parsed = try Arguments(args, options: ["policy"], flags: ["json"])
        if parsed.wantsHelp { Output.out(help); return 0 }
        if let extra = CommandGroup.operands(parsed).first {
            throw Arguments.UsageError("unexpected argument \(extra) (name the file with --policy FILE)")
        }
        let path = PolicyCommand.path(try parsed.value("policy"))
        let policy = try PolicyCommand.load(path)
        Output.out(parsed.has("json") ? policy.canonicalJSON() : render(policy, path: path))
        return 0
    }

    /// The readable form: a title line, then one titled table per section (`none` when empty).
    static func render(_ p: Policy, path: String) -> String {
        var out = "policy \(path) (version \(p.version)): \(PolicyValidateCommand.summary(p))\n"
        let noted = p.agents.contains { $0.note != nil } || p.services.contains { $0.note != nil }
            || p.exits.contains { $0.note != nil } || p.peers.contains { $0.note != nil } || p.rules.contains { $0.note != nil }
        func section(_ title: String, _ table: TextTable) {
            out += "\n\(title)\n"
            out += table.rows.isEmpty ? "  none\n" : table.render()
        }
        func withNote(_ cells: [String], _ note: String?) -> [String] { noted ? cells + [note ?? ""] : cells }
        func header(_ cells: [String]) -> [String] { noted ? cells + ["NOTE"] : cells }

        var agents = TextTable(header(["NAME", "UID", "IDENTITY", "LIMITS"]))
        for a in p.agents { agents.add(withNote([a.name, String(a.uid), a.identity.description, limits(a.limits)], a.note)) }
        section("agents", agents)

        var services = TextTable(header(["NAME", "PEER"]))
        for s in p.services { services.add(withNote([s.name, s.peer.description], s.note)) }
        section("services", services)

        var exits = TextTable(header(["NAME", "PEER"]))
        for e in p.exits { exits.add(withNote([e.name, e.location.description], e.note)) }
        section("exits", exits)

        var peers = TextTable(header(["NAME", "PEER"]))
        for q in p.peers { peers.add(withNote([q.name, q.peer.description], q.note)) }
        section("peers", peers)

        var rules = TextTable(header(["FROM", "TO", "DESTINATIONS", "LIMITS"]))
        for r in p.rules {
            let dests = r.destinations.isEmpty ? "-" : r.destinations.map(\.description).joined(separator: " ")
            rules.add(withNote([r.from, r.to, dests, limits(r.limits)], r.note))
        }
        section("rules", rules)
        return out
    }

    /// `circuit_seconds=600 max_circuits=4`, with the policy file's field names; `-` for none.
    static func limits(_ l: Policy.Limits) -> String {
        var parts: [String] = []
        if let v = l.circuitSeconds { parts.append("circuit_seconds=\(v)") }
        if let v = l.circuitBytes { parts.append("circuit_bytes=\(v)") }
        if let v = l.maxCircuits { parts.append("max_circuits=\(v)") }
        if let v = l.killAfterDenials { parts.append("kill_after_denials=\(v)") }
        return parts.isEmpty ? "-" : parts.joined(separator: " ")
    }
}
