import Testing
import AirlockCore
@testable import AirlockCrypto

@Suite struct Ed25519PrivateKeyTests {
    static let specSeed = "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"
    static let specPublic = "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"
    static let specPrivateProtobuf = "08011240" + specSeed + specPublic
    static let specPublicProtobuf = "08011220" + specPublic

    @Test func seedGivesSpecPublicKey() throws {
        let key = try Ed25519PrivateKey(seed: hex(Self.specSeed))
        #expect(Hex.encode(key.publicKey.bytes) == Self.specPublic)
        #expect(Hex.encode(key.libp2pData.unprotectedCopy()) == Self.specSeed + Self.specPublic)
        #expect(Hex.encode(key.seed.unprotectedCopy()) == Self.specSeed)
        #expect(!key.description.contains(Self.specSeed))
    }

    /// RFC 8032 §7.1 test 1 (empty message): Ed25519 signing is deterministic.
    @Test func rfc8032Vector() throws {
        let key = try Ed25519PrivateKey(seed: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(Hex.encode(key.publicKey.bytes) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let sig = key.sign([UInt8]())
        #expect(Hex.encode(sig) == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(key.publicKey.verify(signature: sig, message: [UInt8]()))
    }

    @Test func signAndVerify() throws {
        let key = Ed25519PrivateKey()
        let msg = Array("hello".utf8)
        let sig = key.sign(msg)
        #expect(sig.count == 64)
        #expect(key.publicKey.verify(signature: sig, message: msg))
        #expect(!key.publicKey.verify(signature: sig, message: Array("hellO".utf8)))
        var bad = sig; bad[10] ^= 1
        #expect(!key.publicKey.verify(signature: bad, message: msg))
        #expect(!key.publicKey.verify(signature: sig.dropLast(), message: msg))
        #expect(!Ed25519PrivateKey().publicKey.verify(signature: sig, message: msg))
    }

    @Test func libp2pDataForms() throws {
        let data64 = hex(Self.specSeed + Self.specPublic)
        let k64 = try Ed25519PrivateKey(libp2pData: SecretBytes(copying: data64))
        #expect(Hex.encode(k64.publicKey.bytes) == Self.specPublic)
        // The old 96-byte form: accepted only when both public copies agree.
        let k96 = try Ed25519PrivateKey(libp2pData: SecretBytes(copying: data64 + hex(Self.specPublic)))
        #expect(k96.publicKey == k64.publicKey)
        var differing = data64 + hex(Self.specPublic); differing[95] ^= 1
        #expect { try Ed25519PrivateKey(libp2pData: SecretBytes(copying: differing)) } throws: { ($0 as? CryptoError)?.code == .invalidKey }
        // A public half that the seed does not derive.
        var mismatched = data64; mismatched[40] ^= 1
        #expect { try Ed25519PrivateKey(libp2pData: SecretBytes(copying: mismatched)) } throws: { ($0 as? CryptoError)?.code == .invalidKey }
        for n in [0, 32, 63, 65, 95, 97] {
            #expect { try Ed25519PrivateKey(libp2pData: SecretBytes(copying: [UInt8](repeating: 1, count: n))) } throws: { ($0 as? CryptoError)?.code == .invalidKey }
        }
        #expect { try Ed25519PrivateKey(seed: [UInt8](repeating: 0, count: 31)) } throws: { ($0 as? CryptoError)?.code == .invalidKey }
    }

    @Test func publicKeyLength() {
        #expect { try Ed25519PublicKey(bytes: [UInt8](repeating: 0, count: 31)) } throws: { ($0 as? CryptoError)?.code == .invalidKey }
        #expect { try Ed25519PublicKey(bytes: [UInt8](repeating: 0, count: 33)) } throws: { ($0 as? CryptoError)?.code == .invalidKey }
    }
}
