#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockCrypto

/// Identity keys live in pages a forked child sees zeroed: an agent's init is a fork of the
/// relay that never executes anything, and must hold no copy of the relay's key.
struct SecretBytesForkTests {
    /// Forks; the child reports (exit 0 or 1) whether every byte it sees is zero. The child
    /// only reads memory and calls _exit.
    static func childSeesOnlyZeros(_ secret: SecretBytes) -> Bool {
        secret.withUnsafeBytes { raw in
            let base = raw.baseAddress!, count = raw.count
            let pid = fork()
            if pid == 0 {
                var allZero = true
                for i in 0..<count where base.load(fromByteOffset: i, as: UInt8.self) != 0 { allZero = false }
                _exit(allZero ? 0 : 1)
            }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return status == 0
        }
    }

    @Test func aLongLivedSecretIsWipedInAForkedChildAndAnOrdinaryOneIsNot() throws {
        let key = Ed25519PrivateKey()
        let long = try #require(Mirror(reflecting: key).children.first { $0.label == "secretKey" }?.value as? SecretBytes)
        #expect(long.withUnsafeBytes { $0.contains { $0 != 0 } }, "the parent still has its key")
        #expect(Self.childSeesOnlyZeros(long))
        let ordinary = SecretBytes.random(count: 32)
        #expect(!Self.childSeesOnlyZeros(ordinary), "the test can tell: heap secrets are copied")
        // And the key still signs in the parent after the fork.
        let sig = key.sign(Array("after the fork".utf8))
        #expect(key.publicKey.verify(signature: sig, message: Array("after the fork".utf8)))
    }
}
