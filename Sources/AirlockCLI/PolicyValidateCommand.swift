import AirlockPolicy

/// `airlock policy validate`: loads a policy file exactly as the relay does and reports every
/// problem, one `FILE:LINE:COL: …` line each.
public enum PolicyValidateCommand: Command {
    public static let name = "validate"
    public static let summary = "check a policy file and list every problem"

    public static let help = """
        usage: airlock policy validate [FILE]

        Checks the policy file FILE completely, as the relay does when it loads or reloads it.
        FILE defaults to $\(PolicyCommand.environmentVariable), else \(PolicyCommand.defaultPath).
        A valid file prints one line on stdout:
          FILE: ok (2 agents, 2 services, 2 exits, 1 peer, 6 rules)
        An invalid one prints each problem on stderr, in file order:
          FILE:LINE:COL: path.to.field: what is wrong

        options:
          --policy FILE  the policy file (instead of the FILE argument)
          -h, --help     show this help

        exit status: 0 valid, 1 invalid or unreadable, 64 usage error.

        example:
          airlock policy validate /etc/airlock/policy.json
        """

    public static func run(_ args: [String]) throws -> Int32 {
        let parsed = try Arguments(args, options: ["policy"])
        if parsed.wantsHelp { Output.out(help); return 0 }
        let operands = CommandGroup.operands(parsed)
        guard operands.count <= 1 else { throw Arguments.UsageError("unexpected argument \(operands[1])") }
        let explicit = try parsed.value("policy")
        if explicit != nil && !operands.isEmpty { throw Arguments.UsageError("give the policy file once: as FILE or as --policy FILE") }
        let path = PolicyCommand.path(explicit ?? operands.first)
        do {
            let p = try Policy.load(path: path)
            Output.out("\(path): ok (\(summary(p)))")
            return 0
        } catch {
            CLI.printErr(error.description)
            if explicit == nil && operands.isEmpty && error.problems.contains(where: { $0.position == nil }) {
                CLI.printErr("(no FILE was given, so \(path) was read; name the policy: airlock policy validate FILE, or set $\(PolicyCommand.environmentVariable))")
            }
            return 1
        }
    }

    /// `2 agents, 2 services, 2 exits, 1 peer, 6 rules`.
    static func summary(_ p: Policy) -> String {
        [Output.count(p.agents.count, "agent"), Output.count(p.services.count, "service"), Output.count(p.exits.count, "exit"),
         Output.count(p.peers.count, "peer"), Output.count(p.rules.count, "rule")].joined(separator: ", ")
    }
}
