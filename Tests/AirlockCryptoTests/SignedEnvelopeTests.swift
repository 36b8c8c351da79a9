import Testing
import AirlockCore
@testable import AirlockCrypto

/// Signed envelopes in general; the voucher fixture is in VoucherTests.
@Suite struct SignedEnvelopeTests {
    func code(_ body: () throws -> Void) -> CryptoError.Code? {
        do { try body(); return nil } catch { return (error as? CryptoError)?.code }
    }

    @Test func envelopeRoundTripForOtherDomains() throws {
        let key = Ed25519PrivateKey()
        let env = SignedEnvelope.seal(payload: [1, 2, 3], payloadType: [0x03, 0x01], domain: "libp2p-peer-record", key: key)
        let opened = try SignedEnvelope.open(env.encoded, domain: "libp2p-peer-record")
        #expect(opened == env)
        #expect(opened.signer == key.publicKey.peerID)
        let empty = SignedEnvelope.seal(payload: [], payloadType: [0x03, 0x01], domain: "d", key: key)
        #expect(try SignedEnvelope.open(empty.encoded, domain: "d").payload.isEmpty)
    }

    @Test func signedBytesLayout() {
        let b = SignedEnvelope.signedBytes(domain: "ab", payloadType: [7], payload: [UInt8](repeating: 1, count: 200))
        #expect(Array(b.prefix(6)) == [0x02, 0x61, 0x62, 0x01, 0x07, 0xc8])
        #expect(b[6] == 0x01 && b.count == 7 + 200)
    }

    @Test func missingFieldsAndJunk() throws {
        let key = Ed25519PrivateKey()
        let env = SignedEnvelope.seal(payload: [1], payloadType: [2], domain: "d", key: key)
        var noSig = ProtoWriter()
        noSig.writeBytes(field: 1, key.publicKey.protobuf)
        noSig.writeBytes(field: 2, [2])
        noSig.writeBytes(field: 3, [1])
        #expect(code { _ = try SignedEnvelope.open(noSig.bytes, domain: "d") } == .malformed)
        // Unknown fields are skipped (field 4 is unused).
        var extra = ProtoWriter()
        extra.writeBytes(field: 4, [9])
        #expect(try SignedEnvelope.open(env.encoded + extra.bytes, domain: "d") == env)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let junk = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? SignedEnvelope.open(junk, domain: "d")
        }
    }
}
