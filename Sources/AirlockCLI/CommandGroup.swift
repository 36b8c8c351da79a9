/// A command made of subcommands (`airlock key generate`, `airlock policy check`): picks the
/// subcommand by its first argument and reports a subcommand's usage error with that
/// subcommand's own usage line, so the user sees the line that applies.
enum CommandGroup {
    /// Runs the subcommand named by `args[0]`. `--help`, `-h` and `help` print `help` and exit 0;
    /// a missing or unknown subcommand is a usage error of the group.
    static func run(_ args: [String], help: String, subcommands: [any Command.Type]) throws -> Int32 {
        let names = subcommands.map { $0.name }.joined(separator: ", ")
        guard let first = args.first else { throw Arguments.UsageError("a command is needed; one of: \(names)") }
        if first == "--help" || first == "-h" || first == "help" {
            Output.out(help)
            return 0
        }
        guard let sub = subcommands.first(where: { $0.name == first }) else {
            throw Arguments.UsageError("unknown command \(first); expected one of: \(names)")
        }
        let rest = Array(args.dropFirst())
        do {
            return try sub.run(rest)
        } catch let e as Arguments.UsageError {
            CLI.printErr("error: \(e.description)\n" + Output.usageLine(sub.help))
            return 64
        } catch {
            CLI.printErr("error: \(error)")
            return 1
        }
    }

    /// The subcommand list for a group's help text: two-space indent, names padded to `width`.
    static func list(_ subcommands: [any Command.Type], width: Int = 10) -> String {
        subcommands.map { "  " + $0.name + String(repeating: " ", count: max(1, width - $0.name.count)) + $0.summary }
            .joined(separator: "\n")
    }

    /// The positionals of `parsed` followed by everything after `--` (so a file named `-x` can
    /// still be given as `-- -x`).
    static func operands(_ parsed: Arguments) -> [String] { parsed.positionals + parsed.rest }
}
