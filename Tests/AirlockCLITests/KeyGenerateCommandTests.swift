import Foundation
import Testing
import AirlockCore
import AirlockCrypto
@testable import AirlockCLI

@Suite struct KeyGenerateCommandTests {
    @Test func writesAPrivateKeyFileAndPrintsItsPeerID() throws {
        let dir = try TempDir()
        let r = try airlock(["key", "generate", "--out", "id.key"], in: dir)
        #expect(r.status == 0)
        #expect(r.stdoutLines.count == 1)
        let printed = try PeerID(try #require(r.stdoutLines.first))
        #expect(try dir.mode("id.key") == 0o600)
        let key = try KeyFile.read(dir.file("id.key"))
        #expect(PeerID(publicKey: key.publicKey) == printed)
        #expect(r.stderr.contains("id.key"))
        // The secret appears in neither stream.
        let hex = Hex.encode(key.seed.unprotectedCopy())
        #expect(!r.stdout.contains(hex) && !r.stderr.contains(hex))
    }

    @Test func twoRunsMakeTwoIdentities() throws {
        let dir = try TempDir()
        let a = try airlock(["key", "generate", "--out", "a.key"], in: dir)
        let b = try airlock(["key", "generate", "--out", "b.key"], in: dir)
        #expect(a.status == 0 && b.status == 0)
        #expect(a.stdout != b.stdout)
    }

    @Test func refusesToOverwriteAndNamesTheFile() throws {
        let dir = try TempDir()
        let first = try airlock(["key", "generate", "--out", "id.key"], in: dir)
        #expect(first.status == 0)
        let before = try dir.read("id.key")
        let again = try airlock(["key", "generate", "--out", "id.key"], in: dir)
        #expect(again.status == 1)
        #expect(again.stdout.isEmpty)
        #expect(again.stderr.hasPrefix("error: id.key already exists"))
        #expect(again.stderr.contains("--force"))
        #expect(try dir.read("id.key") == before)
    }

    @Test func refusesToReplaceAnyExistingFile() throws {
        let dir = try TempDir()
        try dir.write("notes.txt", "keep me\n")
        #expect(CLI.main(["key", "generate", "--out", dir.file("notes.txt")]) == 1)
        #expect(try dir.read("notes.txt") == "keep me\n")
    }

    @Test func forceReplaces() throws {
        let dir = try TempDir()
        let first = try airlock(["key", "generate", "--out", "id.key"], in: dir)
        let forced = try airlock(["key", "generate", "--out", "id.key", "--force"], in: dir)
        #expect(forced.status == 0)
        #expect(forced.stdout != first.stdout)
        let key = try KeyFile.read(dir.file("id.key"))
        #expect(PeerID(publicKey: key.publicKey).description == forced.stdoutLines.first)
        #expect(try dir.mode("id.key") == 0o600)
    }

    @Test func missingDirectoryFailsAndLeavesNothing() throws {
        let dir = try TempDir()
        let r = try airlock(["key", "generate", "--out", "no/such/dir/id.key"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("error: cannot create no/such/dir/id.key"))
        #expect(!dir.exists("no"))
    }

    @Test func stdoutModeWritesAKeyFileWhenRedirected() throws {
        let dir = try TempDir()
        let r = try airlock(["key", "generate", "--stdout"], in: dir)
        #expect(r.status == 0)
        // The key file on stdout is exactly what KeyFile reads; the peer ID went to stderr.
        let path = try dir.write("piped.key", r.stdout, mode: 0o600)
        let key = try KeyFile.read(path)
        #expect(r.stderr.contains(PeerID(publicKey: key.publicKey).description))
    }

    @Test func secretDestinationIsRequired() {
        #expect(CLI.main(["key", "generate"]) == 64)
        #expect(CLI.main(["key", "generate", "--force"]) == 64)
        #expect(CLI.main(["key", "generate", "--out", "x", "--stdout"]) == 64)
        #expect(CLI.main(["key", "generate", "--stdout", "--force"]) == 64)
        #expect(CLI.main(["key", "generate", "--out", "x", "--out", "y"]) == 64)
        #expect(CLI.main(["key", "generate", "extra"]) == 64)
    }

    @Test func usageErrorPrintsTheSubcommandsUsageLine() throws {
        let dir = try TempDir()
        let r = try airlock(["key", "generate"], in: dir)
        #expect(r.status == 64)
        #expect(r.stderr == "error: --out FILE is required (or --stdout with stdout redirected)\n\(usageLine(KeyGenerateCommand.help))\n")
    }
}
