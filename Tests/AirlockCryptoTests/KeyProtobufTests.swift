import Testing
import AirlockCore
@testable import AirlockCrypto

@Suite struct KeyProtobufTests {
    typealias V = Ed25519PrivateKeyTests
    static let secp256k1Public = "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"
    static let ecdsaPublic = "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa36ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c409e62"

    func code(_ body: () throws -> Void) -> CryptoError.Code? {
        do { try body(); return nil } catch { return (error as? CryptoError)?.code }
    }

    @Test func specVectorsRoundTrip() throws {
        let priv = try Ed25519PrivateKey(protobuf: SecretBytes(copying: hex(V.specPrivateProtobuf)))
        #expect(Hex.encode(priv.protobuf.unprotectedCopy()) == V.specPrivateProtobuf)
        #expect(Hex.encode(priv.publicKey.protobuf) == V.specPublicProtobuf)
        let pub = try Ed25519PublicKey(protobuf: hex(V.specPublicProtobuf))
        #expect(pub == priv.publicKey)
    }

    @Test func fieldsInAnyOrderAndUnknownFieldsSkipped() throws {
        let reversed = hex("1220" + V.specPublic + "0801")
        #expect(try Ed25519PublicKey(protobuf: reversed).bytes == hex(V.specPublic))
        let withUnknown = hex("0801" + "1801" + "1220" + V.specPublic + "2203abcdef")
        #expect(try Ed25519PublicKey(protobuf: withUnknown).bytes == hex(V.specPublic))
        // Peer IDs always come from the canonical re-encoding.
        #expect(try PeerID(publicKeyProtobuf: reversed) == PeerID(publicKeyProtobuf: hex(V.specPublicProtobuf)))
    }

    @Test func otherKeyTypesAreUnsupported() {
        #expect(code { _ = try Ed25519PublicKey(protobuf: hex(Self.secp256k1Public)) } == .unsupportedKeyType)
        #expect(code { _ = try Ed25519PublicKey(protobuf: hex(Self.ecdsaPublic)) } == .unsupportedKeyType)
        #expect(code { _ = try Ed25519PublicKey(protobuf: hex("0800" + "1204deadbeef")) } == .unsupportedKeyType)
        #expect(code { _ = try Ed25519PublicKey(protobuf: hex("0807" + "1220" + V.specPublic)) } == .unsupportedKeyType)
        #expect(code { _ = try Ed25519PrivateKey(protobuf: SecretBytes(copying: hex("08021220" + V.specSeed))) } == .unsupportedKeyType)
        do {
            _ = try Ed25519PublicKey(protobuf: hex(Self.secp256k1Public))
        } catch {
            #expect(error.message.contains("Secp256k1"))
        }
    }

    @Test func malformedProtobufs() {
        let cases: [String] = [
            "",                                  // empty: both fields missing
            "0801",                              // no Data
            "1220" + V.specPublic,               // no Type
            "0801" + "0801" + "1220" + V.specPublic,  // Type twice
            "0801" + "1220" + V.specPublic + "1220" + V.specPublic,  // Data twice
            "0a01" + "01" + "1220" + V.specPublic,    // Type with the wrong wire type
            "0801" + "1020",                     // Data with the wrong wire type
            "0881" + "00" + "1220" + V.specPublic,    // non-minimal varint
            "08ffffffffffffffffffff01",          // varint too long
            "0801" + "12ffff03",                 // length over the cap
            "0801" + "0f",                       // unsupported wire type
            "00",                                // field number 0
        ]
        for c in cases {
            #expect(code { _ = try Ed25519PublicKey(protobuf: hex(c)) } == .malformed, "case \(c)")
        }
        #expect(code { _ = try Ed25519PublicKey(protobuf: [UInt8](repeating: 0x08, count: 5000)) } == .malformed)
        // Right type, wrong Data length.
        #expect(code { _ = try Ed25519PublicKey(protobuf: hex("0801121f" + String(V.specPublic.dropLast(2)))) } == .invalidKey)
    }

    /// Whole-message decoder fed growing prefixes: every truncation is an error, never a trap.
    @Test func everyTruncationIsRefused() throws {
        let full = hex(V.specPublicProtobuf)
        for n in 0..<full.count {
            #expect(code { _ = try Ed25519PublicKey(protobuf: full.prefix(n)) } != nil, "prefix \(n)")
        }
        let priv = hex(V.specPrivateProtobuf)
        for n in 0..<priv.count {
            #expect(code { _ = try Ed25519PrivateKey(protobuf: SecretBytes(copying: priv.prefix(n))) } != nil, "prefix \(n)")
        }
        #expect(try Ed25519PublicKey(protobuf: full).bytes == hex(V.specPublic))
    }

    @Test func junkNeverTraps() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0...48, using: &generator)
            let junk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? Ed25519PublicKey(protobuf: junk)
            _ = try? PeerID(publicKeyProtobuf: junk)
            _ = try? Ed25519PrivateKey(protobuf: SecretBytes(copying: junk))
        }
    }
}
