import Testing
import AirlockCore
@testable import AirlockCrypto

@Suite struct SecretBytesTests {
    @Test func randomBytesHaveTheLengthAndDiffer() {
        let a = Sodium.randomBytes(count: 32), b = Sodium.randomBytes(count: 32)
        #expect(a.count == 32 && b.count == 32)
        #expect(a != b)
        #expect(Sodium.randomBytes(count: 0).isEmpty)
    }

    @Test func initialisationIsIdempotentAcrossThreads() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { Sodium.ensureInitialized(); _ = SecretBytes.random(count: 16) } }
        }
    }

    @Test func equalityComparesContents() {
        let a = SecretBytes(copying: [1, 2, 3, 4]), b = SecretBytes(copying: [1, 2, 3, 4])
        #expect(a == b)
        #expect(a != SecretBytes(copying: [1, 2, 3, 5]))
        #expect(a != SecretBytes(copying: [1, 2, 3]))
        #expect(SecretBytes(copying: []) == SecretBytes(copying: []))
    }

    @Test func descriptionNeverShowsTheBytes() {
        let key = hex("7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d")
        let s = SecretBytes(copying: key)
        for text in [s.description, s.debugDescription, "\(s)", String(reflecting: s)] {
            #expect(!text.contains("7e0830"))
            #expect(!text.contains(Hex.encode(key)))
            #expect(text.contains("32 bytes"))
        }
        #expect(s.fingerprint.count == 8)
        #expect(s.fingerprint == SecretBytes(copying: key).fingerprint)
        #expect(s.fingerprint != SecretBytes(copying: [UInt8](repeating: 0, count: 32)).fingerprint)
    }

    @Test func failedInitialiserPropagatesItsError() {
        struct Boom: Error {}
        #expect(throws: Boom.self) { try SecretBytes(count: 8) { (_: UnsafeMutableRawBufferPointer) throws(Boom) in throw Boom() } }
    }

    @Test func wipeZeroes() {
        var a: [UInt8] = [1, 2, 3]
        Sodium.wipe(&a)
        #expect(a == [0, 0, 0])
    }
}
