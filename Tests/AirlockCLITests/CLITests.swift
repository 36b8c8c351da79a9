import Foundation
import Testing
@testable import AirlockCLI

/// The dispatcher and the conventions every command shares (style.md, "Errors").
@Suite struct CLITests {
    @Test func topLevelUsage() {
        #expect(CLI.main([]) == 64)
        #expect(CLI.main(["--help"]) == 0)
        #expect(CLI.main(["nonsense"]) == 64)
        #expect(CLI.usage.contains("  key "))
        #expect(CLI.usage.contains("  policy "))
    }

    @Test(arguments: allCommands.map(\.path))
    func helpExitsZeroInProcess(path: [String]) {
        #expect(CLI.main(path + ["--help"]) == 0)
        #expect(CLI.main(path + ["-h"]) == 0)
    }

    @Test(arguments: allCommands.map(\.path))
    func helpIsPreciseAndGoesToStdout(path: [String]) throws {
        let help = try #require(allCommands.first { $0.path == path }?.help)
        let usage = usageLine(help)
        #expect(usage.hasPrefix("usage: airlock " + path.joined(separator: " ")))
        #expect(help.contains("example"))
        let dir = try TempDir()
        let r = try airlock(path + ["--help"], in: dir)
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix(usage))
        #expect(r.stderr.isEmpty)
    }

    /// Leaf commands document their options and exit statuses.
    @Test(arguments: allCommands.filter { $0.path.count == 2 }.map(\.path))
    func leafHelpListsOptionsAndStatus(path: [String]) throws {
        let help = try #require(allCommands.first { $0.path == path }?.help)
        #expect(help.contains("options:"))
        #expect(help.contains("--help"))
        #expect(help.contains("exit status:"))
    }

    @Test(arguments: allCommands.map(\.path))
    func unknownOptionIsAUsageError(path: [String]) throws {
        let help = try #require(allCommands.first { $0.path == path }?.help)
        #expect(CLI.main(path + ["--no-such-option"]) == 64)
        let dir = try TempDir()
        let r = try airlock(path + ["--no-such-option"], in: dir)
        #expect(r.status == 64)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("error: ") == true)
        // Groups name the problem (no such command) and print their own usage line.
        #expect(lines.contains(usageLine(help)))
    }

    @Test func unknownSubcommandIsAUsageError() throws {
        #expect(CLI.main(["key", "frobnicate"]) == 64)
        #expect(CLI.main(["policy"]) == 64)
        let dir = try TempDir()
        let r = try airlock(["policy", "frobnicate"], in: dir)
        #expect(r.status == 64)
        #expect(r.stderr.hasPrefix("error: unknown command frobnicate; expected one of: validate, show, check, reload\n"))
        #expect(r.stderr.contains(usageLine(PolicyCommand.help)))
    }

    @Test func optionValueMissingIsAUsageError() throws {
        let dir = try TempDir()
        let r = try airlock(["key", "generate", "--out"], in: dir)
        #expect(r.status == 64)
        #expect(r.stderr == "error: --out needs a value\n\(usageLine(KeyGenerateCommand.help))\n")
        // A forgotten value does not swallow the next option.
        let swallowed = try airlock(["allow", "coder", "web", "--policy", "--no-reload"], in: dir)
        #expect(swallowed.status == 64)
        #expect(swallowed.stderr.hasPrefix("error: --policy needs a value (got the option --no-reload;"), "\(swallowed.stderr)")
        // Written with =, a value may start with --.
        #expect(try Arguments(["--out=--odd"], options: ["out"]).value("out") == "--odd")
    }
}
