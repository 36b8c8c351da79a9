import Foundation
import Testing
@testable import AirlockCLI

/// `airlock exit` and the exit flags of `airlock relay`: what is refused before anything runs.
@Suite struct ExitCommandTests {
    func usageError(_ args: [String], _ message: String, _ help: String) throws {
        let dir = try TempDir()
        let r = try airlock(args, in: dir)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr == "error: \(message)\n\(usageLine(help))\n", "\(r.stderr)")
    }

    @Test func exitUsageMistakes() throws {
        let relay = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWLdJAwPtyQ5RFnr9wGXsQzpf3P2SeqFbYkqbfVehLu4Ns"
        try usageError(["exit", "--relay", relay, "--key", "k"], "the exit NAME is missing", ExitCommand.help)
        try usageError(["exit", "out", "extra", "--relay", relay, "--key", "k"], "unexpected argument extra", ExitCommand.help)
        try usageError(["exit", "out", "--key", "k"], "--relay is required", ExitCommand.help)
        try usageError(["exit", "out", "--relay", relay, "--key", "k", "--no-system-dns"],
                       "--no-system-dns without --hosts would resolve nothing", ExitCommand.help)
        try usageError(["exit", "out", "--relay", "/ip4/127.0.0.1/tcp/4001", "--key", "k"],
                       "--relay /ip4/127.0.0.1/tcp/4001: expected /ip4/…/tcp/…/p2p/<relay peer ID>", ExitCommand.help)
    }

    @Test func exitRuntimeMistakesNameTheFile() throws {
        let dir = try TempDir()
        let relay = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWLdJAwPtyQ5RFnr9wGXsQzpf3P2SeqFbYkqbfVehLu4Ns"
        let missing = try airlock(["exit", "out", "--relay", relay, "--key", "k", "--hosts", dir.file("nope")], in: dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: --hosts: \(dir.file("nope")): cannot open:"), "\(missing.stderr)")
        try dir.write("hosts", "127.0.0.1 ok.test\nnot-an-address app.test\n")
        let bad = try airlock(["exit", "out", "--relay", relay, "--key", "k", "--hosts", dir.file("hosts")], in: dir)
        #expect(bad.status == 1)
        #expect(bad.stderr == "error: --hosts: \(dir.file("hosts")):2: \"not-an-address\" is not an IP address; expected ADDRESS NAME…\n", "\(bad.stderr)")
    }

    @Test func relayExitFlagsNeedExit() throws {
        try usageError(["relay", "--listen", "127.0.0.1:0", "--key", "k", "--policy", "p", "--no-hub", "--hosts", "h"],
                       "--hosts and --no-system-dns apply only with --exit", RelayCommand.help)
        try usageError(["relay", "--listen", "127.0.0.1:0", "--key", "k", "--policy", "p", "--no-hub", "--no-system-dns"],
                       "--hosts and --no-system-dns apply only with --exit", RelayCommand.help)
    }
}
