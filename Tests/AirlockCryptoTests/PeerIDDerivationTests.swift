import Testing
import AirlockCore
@testable import AirlockCrypto

/// wire.md §3.5 peer-ID vectors.
@Suite struct PeerIDDerivationTests {
    typealias V = Ed25519PrivateKeyTests

    @Test func specEd25519Key() throws {
        let pub = try Ed25519PublicKey(protobuf: hex(V.specPublicProtobuf))
        let id = PeerID(publicKey: pub)
        #expect(id.description == "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq")
        #expect(id.cidString == "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6")
        #expect(Hex.encode(id.bytes) == "0024" + V.specPublicProtobuf)
        #expect(try PeerID("bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6") == id)
        #expect(try PeerID(publicKeyProtobuf: hex(V.specPublicProtobuf)) == id)
        #expect(pub.peerID == id)
        #expect(id.matches(pub))
    }

    @Test(arguments: [
        ("02", "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq", "8139770e"),
        ("01", "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5", "8a88e3dd"),
        ("00", "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN", "3b6a27bc"),
    ])
    func seedVectors(byte: String, peer: String, pubPrefix: String) throws {
        let key = try Ed25519PrivateKey(seed: hex(String(repeating: byte, count: 32)))
        #expect(Hex.encode(key.publicKey.bytes).hasPrefix(pubPrefix))
        #expect(PeerID(publicKey: key.publicKey).description == peer)
        // And back: the identity peer ID carries the key.
        #expect(try PeerID(peer).ed25519PublicKey() == key.publicKey)
    }

    @Test func otherKeyTypesDeriveToo() throws {
        let secp = try PeerID(publicKeyProtobuf: hex(KeyProtobufTests.secp256k1Public))
        #expect(secp.description == "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY")
        let ecdsa = try PeerID(publicKeyProtobuf: hex(KeyProtobufTests.ecdsaPublic))
        #expect(hex(KeyProtobufTests.ecdsaPublic).count == 95)
        #expect(ecdsa.description == "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk")
        // An inlined secp256k1 key is not an Ed25519 key; a hashed ID carries no key.
        #expect { try secp.ed25519PublicKey() } throws: { ($0 as? CryptoError)?.code == .unsupportedKeyType }
        #expect { try ecdsa.ed25519PublicKey() } throws: { ($0 as? CryptoError)?.code == .invalidKey }
    }

    @Test func textFormsDecodeToTheSameMultihash() throws {
        let a = try PeerID("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
        let b = try PeerID("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")
        #expect(a == b)
        #expect(Hex.encode(a.bytes).hasPrefix("12209dff3b17"))
        #expect(Hex.encode(a.bytes).hasSuffix("f0b9"))
        #expect(b.description == "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
        #expect(a.cidString == "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")
    }
}
