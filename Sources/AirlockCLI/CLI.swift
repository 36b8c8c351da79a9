import AirlockCore
#if canImport(Glibc)
import Glibc
#endif

/// One `airlock` subcommand. `run` returns the exit status: 0 success, 1 runtime failure,
/// 64 usage error (style.md: usage errors print `error: …` and the usage line to stderr).
public protocol Command {
    static var name: String { get }
    static var summary: String { get }
    /// The full help text, first line the usage line.
    static var help: String { get }
    static func run(_ args: [String]) throws -> Int32
}

/// A runtime failure with a message that says what to do next (exit 1).
public struct CommandFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Entry point for the `airlock` executable; parsing and commands live here so tests can call them.
public enum CLI {
    public static let version = "0.1.0"

    public static var commands: [any Command.Type] {
        [RelayCommand.self, RunCommand.self, AttachCommand.self, DetachCommand.self, ExposeCommand.self, ExitCommand.self, ShimCommand.self, KeyCommand.self, PolicyCommand.self, AllowCommand.self, DenyCommand.self, StatusCommand.self, BenchCommand.self]
    }

    /// Commands people do not run by hand (the relay starts them): left out of the usage summary.
    static let unlisted: Set<String> = [ShimCommand.name]

    public static var usage: String {
        var s = "usage: airlock COMMAND [OPTIONS]\n\ncommands:\n"
        for c in commands where !unlisted.contains(c.name) { s += "  \(c.name + String(repeating: " ", count: max(1, 10 - c.name.count)))\(c.summary)\n" }
        s += "\nRun `airlock COMMAND --help` for a command's options.\n"
        return s
    }

    public static func main(_ args: [String]) -> Int32 {
        guard let first = args.first else { printErr(usage); return 64 }
        if first == "--help" || first == "-h" || first == "help" { print(usage, terminator: ""); return 0 }
        if first == "--version" { print("airlock \(version)"); return 0 }
        guard let cmd = commands.first(where: { $0.name == first }) else {
            printErr("error: unknown command \(first)\n\n" + usage)
            return 64
        }
        let rest = Array(args.dropFirst())
        do {
            return try cmd.run(rest)
        } catch let e as Arguments.UsageError {
            printErr("error: \(e.description)\n" + (cmd.help.split(separator: "\n").first.map(String.init) ?? ""))
            return 64
        } catch {
            printErr("error: \(error)")
            return 1
        }
    }

    public static func printErr(_ s: String) {
        var line = s
        if !line.hasSuffix("\n") { line += "\n" }
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
