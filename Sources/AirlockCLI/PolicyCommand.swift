#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy

/// `airlock policy`: check, show and query the relay's policy file (docs/policy.md).
public enum PolicyCommand: Command {
    public static let name = "policy"
    public static let summary = "validate, show and query the policy file"
    static var subcommands: [any Command.Type] { [PolicyValidateCommand.self, PolicyShowCommand.self, PolicyCheckCommand.self, PolicyReloadCommand.self] }

    /// Where the policy is when no file is named and `AIRLOCK_POLICY` is unset.
    public static let defaultPath = "/etc/airlock/policy.json"
    /// The environment variable naming the policy file.
    public static let environmentVariable = "AIRLOCK_POLICY"

    public static var help: String {
        """
        usage: airlock policy COMMAND [OPTIONS]

        Work with the relay's policy file (the schema is in docs/policy.md). The file is the one
        named on the command line, else $\(environmentVariable), else \(defaultPath).

        commands:
        \(CommandGroup.list(subcommands))

        Run `airlock policy COMMAND --help` for a command's options.

        example:
          airlock policy validate /etc/airlock/policy.json
        """
    }

    public static func run(_ args: [String]) throws -> Int32 {
        try CommandGroup.run(args, help: help, subcommands: subcommands)
    }

    /// The policy file to use: `explicit` if given, else `$AIRLOCK_POLICY` if set and not empty,
    /// else `defaultPath`.
    static func path(_ explicit: String?) -> String {
        if let explicit { return explicit }
        if let env = getenv(environmentVariable), env.pointee != 0 { return String(cString: env) }
        return defaultPath
    }

    /// Loads the policy at `path` for a command that uses it. A refused policy prints its
    /// problems to stderr and becomes a failure saying how to see them again.
    static func load(_ path: String) throws(CommandFailure) -> Policy {
        do {
            return try Policy.load(path: path)
        } catch {
            CLI.printErr(error.description)
            let what = error.problems.count == 1 && error.problems[0].position == nil
                ? "cannot use the policy \(path); give its path with --policy FILE or $\(environmentVariable)"
                : "the policy \(path) has \(Output.count(error.problems.count, "problem")) (above); fix them and run: airlock policy validate \(path)"
            throw CommandFailure(what)
        }
    }
}
