import Foundation
import Testing
import AirlockCore
@testable import AirlockCrypto

@Suite struct KeyFileTests {
    /// A fresh private directory per test, removed afterwards.
    final class TempDir {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "airlock-keyfile-" + Hex.encode(Sodium.randomBytes(count: 6))
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func file(_ name: String) -> String { path + "/" + name }
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func keyFileError(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let e as CryptoError where e.code == .keyFile { return e.message } catch { return "other: \(error)" }
    }

    @Test func writeThenRead() throws {
        let dir = try TempDir()
        let path = dir.file("identity.key")
        let key = try Ed25519PrivateKey(seed: hex(Ed25519PrivateKeyTests.specSeed))
        try KeyFile.write(key, to: path)
        #expect(try mode(path) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == "# airlock Ed25519 identity 12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq\nprivate-key: \(Ed25519PrivateKeyTests.specPrivateProtobuf)\n")
        #expect(try KeyFile.read(path).publicKey == key.publicKey)
        // Overwrite atomically; no temporary files are left behind.
        let other = Ed25519PrivateKey()
        try KeyFile.write(other, to: path)
        #expect(try KeyFile.read(path).publicKey == other.publicKey)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["identity.key"])
    }

    @Test func modeIsPrivateEvenWithALaxUmask() throws {
        let dir = try TempDir()
        let old = umask(0)
        defer { umask(old) }
        try KeyFile.write(Ed25519PrivateKey(), to: dir.file("k"))
        #expect(try mode(dir.file("k")) == 0o600)
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o620, 0o602, 0o660])
    func refusesFilesOthersCanReachAndSaysHowToFix(_ m: Int) throws {
        let dir = try TempDir()
        let path = dir.file("k")
        try KeyFile.write(Ed25519PrivateKey(), to: path)
        #expect(chmod(path, mode_t(m)) == 0)
        let message = try #require(keyFileError { _ = try KeyFile.read(path) })
        #expect(message.contains(path))
        #expect(message.contains("0" + String(m, radix: 8)))
        #expect(message.contains("chmod 600 \(path)"))
        #expect(chmod(path, 0o400) == 0)
        _ = try KeyFile.read(path)  // owner-only read is fine
    }

    @Test func commentsAndBlankLinesAreIgnored() throws {
        let dir = try TempDir()
        let path = dir.file("k")
        let text = "\n# a comment\n   \n# airlock Ed25519 identity whatever\nprivate-key:   \(Ed25519PrivateKeyTests.specPrivateProtobuf.uppercased())  \r\n\n# trailing\n"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]))
        #expect(try KeyFile.read(path).publicKey.peerID.description == "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq")
    }

    @Test(arguments: [
        ("", "has no private-key line"),
        ("# only a comment\n", "has no private-key line"),
        ("# c\nhello\n", "line 2"),
        ("private-key: abc\n", "line 1"),
        ("private-key: zz\n", "line 1"),
        ("\n\nprivate-key: 08011220" + Ed25519PrivateKeyTests.specPublic + "\n", "line 3"),  // a public key: Data is 32 bytes
        ("private-key: 08021220" + Ed25519PrivateKeyTests.specSeed + "\n", "only Ed25519"),
        ("private-key: \(Ed25519PrivateKeyTests.specPrivateProtobuf)\nprivate-key: \(Ed25519PrivateKeyTests.specPrivateProtobuf)\n", "line 2"),
        ("private-key \(Ed25519PrivateKeyTests.specPrivateProtobuf)\n", "line 1"),
    ])
    func malformedFilesNameFileAndLine(text: String, expected: String) throws {
        let dir = try TempDir()
        let path = dir.file("k")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]))
        let message = try #require(keyFileError { _ = try KeyFile.read(path) })
        #expect(message.contains(path))
        #expect(message.contains(expected), "\(message)")
        #expect(!message.contains(Ed25519PrivateKeyTests.specSeed))
    }

    @Test func readFromAnOpenDescriptor() throws {
        let dir = try TempDir()
        let path = dir.file("k")
        let key = Ed25519PrivateKey()
        try KeyFile.write(key, to: path)
        let fd = open(path, O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(try KeyFile.read(fd: fd).publicKey == key.publicKey)
        // Through a pipe, as a privileged parent might hand it over.
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let content = KeyFile.render(key)
        content.withUnsafeBytes { _ = write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        defer { close(fds[0]) }
        #expect(try KeyFile.read(fd: fds[0]).publicKey == key.publicKey)
    }

    @Test func otherRefusals() throws {
        let dir = try TempDir()
        #expect(keyFileError { _ = try KeyFile.read(dir.file("missing")) }?.contains(dir.file("missing")) == true)
        #expect(keyFileError { _ = try KeyFile.read(dir.path) }?.contains("not a regular file") == true)
        let big = dir.file("big")
        #expect(FileManager.default.createFile(atPath: big, contents: Data(repeating: 0x23, count: KeyFile.maxSize + 1), attributes: [.posixPermissions: 0o600]))
        #expect(keyFileError { _ = try KeyFile.read(big) }?.contains("larger") == true)
        #expect(keyFileError { try KeyFile.write(Ed25519PrivateKey(), to: dir.file("no/such/dir/k")) } != nil)
    }
}
