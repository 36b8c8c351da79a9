#if canImport(Glibc)
import Glibc
#endif
import AirlockAgent
import AirlockIO
import Foundation

/// `airlock status`: what the running relay holds, from its control socket's `status`.
enum StatusCommand: Command {
    static let name = "status"
    static let summary = "show agents, reservations, circuits and recent refusals"
    static let help = """
        usage: airlock status [--json] [--control PATH]

        Asks the running relay for what it holds now and prints four tables: agents (runs and
        attachments, with their address, age and open circuits), reservations (with the time
        left until each expires), circuits (bytes each way and age) and the most recent
        refusals, exit requests included (newest last, with their reason: docs/policy.md,
        "Decisions"); with the relay's own exit also its open connections (target, address,
        bytes, age); for root also the relay's non-zero counters (Relay/README.md, "Counters";
        --json has all of them).

        Root sees everything. A member of group airlock sees its own agents (the policy's
        `uid` is theirs), their circuits and refusals, and the reservations of the targets its
        agents have a rule to. Each table shows at most 64 rows; the title says how many there are.

        options:
          --json          print the relay's answer as one JSON object instead
          --control PATH  the relay's control socket (default /run/airlock/control.sock)
          -h, --help      show this help

        exit status: 0 shown, 1 no relay answered or it refused, 64 usage error.

        example:
          sudo airlock status
        """

    static func run(_ args: [String]) throws -> Int32 {
        let parsed = try Arguments(args, options: ["control"], flags: ["json"])
        if parsed.wantsHelp { Output.out(help); return 0 }
        if let extra = CommandGroup.operands(parsed).first { throw Arguments.UsageError("unexpected argument \(extra)") }
        let client = try ControlCall.connect(try parsed.value("control") ?? ControlProtocol.defaultPath)
        try ControlCall.send(client, "status", ControlProtocol.StatusRequest())
        let reply = try ControlCall.expect(try ControlCall.receive(client, timeout: .seconds(10)), "status")
        guard reply.type == "status" else { throw CommandFailure("the relay answered \(reply.type) to status") }
        let status = try ControlCall.body(ControlProtocol.Status.self, reply.bytes)
        if parsed.has("json") {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            guard let data = try? encoder.encode(status) else { throw CommandFailure("cannot encode the status as JSON") }
            Output.out(String(decoding: data, as: UTF8.self))
        } else {
            Output.out(render(status))
        }
        return 0
    }

    /// The tables, each titled with its count (`none` when empty).
    static func render(_ s: ControlProtocol.Status) -> String {
        var out = "relay \(s.relay), policy \(s.policy)\n"
        func section(_ title: String, _ shown: Int, _ total: Int, _ table: TextTable) {
            out += "\n\(title) (\(total)\(shown < total ? ", \(shown) shown" : ""))\n"
            out += table.rows.isEmpty ? "  none\n" : table.render()
        }
        var agents = TextTable(["NAME", "AGENT", "KIND", "UID", "ADDRESS", "AGE", "CIRCUITS", "PEER"])
        for a in s.agents {
            agents.add([a.name, a.agent, a.kind, String(a.uid), a.agentAddress, duration(a.seconds), String(a.circuits), a.peer])
        }
        section("agents", s.agents.count, s.agentsTotal, agents)

        var reservations = TextTable(["NAME", "EXPIRES IN", "PEER"])
        for r in s.reservations { reservations.add([r.name ?? "-", duration(r.expiresIn), r.peer]) }
        section("reservations", s.reservations.count, s.reservationsTotal, reservations)

        var circuits = TextTable(["FROM", "TO", "UP", "DOWN", "AGE"])
        for c in s.circuits {
            circuits.add([c.sourceName ?? short(c.source), c.targetName ?? short(c.target), bytes(c.bytesUp), bytes(c.bytesDown), duration(c.seconds)])
        }
        section("circuits", s.circuits.count, s.circuitsTotal, circuits)

        var refusals = TextTable(["AGO", "KIND", "FROM", "TO", "STATUS", "REASON"])
        for r in s.refusals {
            refusals.add([duration(max(0, s.time - r.time)), r.kind, r.sourceName ?? short(r.source),
                          r.targetName ?? r.target.map(short) ?? "-", r.status, r.reason])
        }
        section("recent refusals", s.refusals.count, s.refusalsTotal, refusals)
        if s.exitsTotal > 0 {
            var exits = TextTable(["FROM", "TARGET", "ADDRESS", "UP", "DOWN", "AGE"])
            for e in s.exits {
                exits.add([e.sourceName ?? short(e.source), e.target, e.address, bytes(e.bytesUp), bytes(e.bytesDown), duration(e.seconds)])
            }
            section("exit connections", s.exits.count, s.exitsTotal, exits)
        }
        // Counters (root only): the non-zero ones, so a cap being hit stands out.
        let nonZero = s.counters.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        if !s.counters.isEmpty {
            var counters = TextTable(["COUNTER", "VALUE"])
            for (k, v) in nonZero { counters.add([k, String(v)]) }
            section("counters, non-zero", nonZero.count, nonZero.count, counters)
        }
        return out
    }

    /// `12D3KooW…abcdef`: enough of an unnamed peer ID to tell it apart.
    static func short(_ peer: String) -> String {
        peer.count > 20 ? String(peer.prefix(8)) + "…" + String(peer.suffix(6)) : peer
    }

    /// `1.2 KiB`, `3.0 MiB`; plain bytes below 1 KiB.
    static func bytes(_ n: UInt64) -> String {
        if n < 1024 { return "\(n) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var v = Double(n) / 1024, i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return String(format: "%.1f", v) + " " + units[i]
    }

    /// `42s`, `3m05s`, `2h07m`, `3d04h`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.down))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" + pad(s % 60) + "s" }
        if s < 86400 { return "\(s / 3600)h" + pad(s % 3600 / 60) + "m" }
        return "\(s / 86400)d" + pad(s % 86400 / 3600) + "h"
    }

    private static func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
}
