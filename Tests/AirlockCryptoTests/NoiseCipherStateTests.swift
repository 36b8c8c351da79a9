import Testing
import AirlockCore
@testable import AirlockCrypto

@Suite struct NoiseCipherStateTests {
    static func keyed() -> NoiseCipherState { NoiseCipherState(key: SecretBytes(copying: [UInt8](repeating: 7, count: 32))) }

    @Test func nonceLayout() {
        func bytes(_ n: UInt64) -> String { var t = NoiseCipherState.nonceBytes(n); return withUnsafeBytes(of: &t) { Hex.encode($0) } }
        #expect(bytes(0) == "000000000000000000000000")
        #expect(bytes(1) == "000000000100000000000000")
        #expect(bytes(256) == "000000000001000000000000")
        #expect(bytes(UInt64.max - 1) == "00000000feffffffffffffff")
    }

    @Test func failedDecryptKeepsTheNonce() throws {
        var a = Self.keyed(), b = Self.keyed()
        let c = try a.encryptWithAd([1], Array("x".utf8))
        var bad = c; bad[0] ^= 1
        #expect { try b.decryptWithAd([1], bad[...]) } throws: { ($0 as? CryptoError)?.code == .decryptFailed }
        #expect(b.nonce == 0)
        #expect { try b.decryptWithAd([2], c[...]) } throws: { ($0 as? CryptoError)?.code == .decryptFailed }
        #expect { try b.decryptWithAd([1], c.prefix(15)) } throws: { ($0 as? CryptoError)?.code == .decryptFailed }
        #expect(b.nonce == 0)
        #expect(try b.decryptWithAd([1], c[...]) == Array("x".utf8))
        #expect(b.nonce == 1)
    }

    @Test func reservedNonceIsAnError() throws {
        var a = Self.keyed()
        a.setNonce(UInt64.max - 1)
        _ = try a.encryptWithAd([], [1])
        #expect(a.nonce == UInt64.max)
        #expect { try a.encryptWithAd([], [1]) } throws: { ($0 as? CryptoError)?.code == .nonceExhausted }
        var b = Self.keyed()
        b.setNonce(UInt64.max)
        #expect { try b.decryptWithAd([], [UInt8](repeating: 0, count: 16)[...]) } throws: { ($0 as? CryptoError)?.code == .nonceExhausted }
    }

    @Test func withoutAKeyBytesPassThrough() throws {
        var a = NoiseCipherState()
        #expect(try a.encryptWithAd([1], [9, 9]) == [9, 9])
        #expect(try a.decryptWithAd([1], [9, 9][...]) == [9, 9])
    }

    @Test func lowOrderPointIsRefused() throws {
        let pair = X25519KeyPair.generate()
        #expect { try pair.dh([UInt8](repeating: 0, count: 32)) } throws: { ($0 as? CryptoError)?.code == .weakKeyExchange }
        #expect { try pair.dh([UInt8](repeating: 0, count: 31)) } throws: { ($0 as? CryptoError)?.code == .invalidKey }
        let other = X25519KeyPair.generate()
        #expect(try pair.dh(other.publicKey) == other.dh(pair.publicKey))
    }
}
