import Foundation
import Testing
import AirlockCore
import AirlockCrypto
@testable import AirlockCLI

@Suite struct KeyShowCommandTests {
    /// A key from a fixed seed, written with KeyFile (mode 0600).
    func knownKey(in dir: TempDir) throws -> (path: String, key: Ed25519PrivateKey) {
        let key = try Ed25519PrivateKey(seed: [UInt8](0..<32))
        let path = dir.file("known.key")
        try KeyFile.write(key, to: path)
        return (path, key)
    }

    @Test func printsPeerIDCIDAndPublicKey() throws {
        let dir = try TempDir()
        let (path, key) = try knownKey(in: dir)
        let peer = PeerID(publicKey: key.publicKey)
        let r = try airlock(["key", "show", path], in: dir)
        #expect(r.status == 0)
        #expect(r.stdoutLines == [
            "peer_id: \(peer)",
            "peer_id_cid: \(peer.cidString)",
            "public_key: \(Hex.encode(key.publicKey.bytes))",
        ])
        #expect(r.stderr.isEmpty)
        // The printed forms are one identity.
        #expect(try PeerID(peer.cidString) == peer)
        #expect(try peer.ed25519PublicKey() == key.publicKey)
    }

    @Test func keyOptionAndJSON() throws {
        let dir = try TempDir()
        let (path, key) = try knownKey(in: dir)
        let peer = PeerID(publicKey: key.publicKey)
        let r = try airlock(["key", "show", "--key", path, "--json"], in: dir)
        #expect(r.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String])
        #expect(object == ["peer_id": peer.description, "peer_id_cid": peer.cidString, "public_key": Hex.encode(key.publicKey.bytes)])
    }

    @Test func generateThenShowRoundTrip() throws {
        let dir = try TempDir()
        let gen = try airlock(["key", "generate", "--out", "id.key"], in: dir)
        let show = try airlock(["key", "show", "id.key"], in: dir)
        #expect(gen.status == 0 && show.status == 0)
        #expect(show.stdoutLines.first == "peer_id: \(try #require(gen.stdoutLines.first))")
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660])
    func refusesAKeyOthersMayRead(mode: Int) throws {
        let dir = try TempDir()
        let (path, _) = try knownKey(in: dir)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        #expect(CLI.main(["key", "show", path]) == 1)
        let r = try airlock(["key", "show", "known.key"], in: dir)
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("error: "))
        #expect(r.stderr.contains("chmod 600 known.key"))
    }

    @Test func failuresExitOne() throws {
        let dir = try TempDir()
        try dir.write("junk.key", "private-key: zz\n", mode: 0o600)
        let junk = try airlock(["key", "show", "junk.key"], in: dir)
        #expect(junk.status == 1)
        #expect(junk.stderr.hasPrefix("error: key file junk.key line 1"))
        let missing = try airlock(["key", "show", "absent.key"], in: dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: cannot open key file absent.key"))
    }

    @Test func usageErrors() {
        #expect(CLI.main(["key", "show"]) == 64)
        #expect(CLI.main(["key", "show", "a", "b"]) == 64)
        #expect(CLI.main(["key", "show", "a", "--key", "b"]) == 64)
        #expect(CLI.main(["key", "show", "--key"]) == 64)
    }
}
