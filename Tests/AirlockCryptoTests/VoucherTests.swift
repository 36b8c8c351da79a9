import Testing
import AirlockCore
@testable import AirlockCrypto

/// Reservation vouchers in signed envelopes: the wire.md §6.3 fixture and its failure modes.
@Suite struct VoucherTests {
    static let payload = "0a260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e12260024080112208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3941880e2cfaa06"
    static let signature = "39e24e813e9df5deb2d3e6dc50f57f90d8281262795fd6085ab492a955bdd3204e3840b9d5589577a2b6ecaa036c8bff3cb5783090e6d4137e26234e8a753700"
    static let envelope = "0a24080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e120203021a560a260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e12260024080112208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3941880e2cfaa062a4039e24e813e9df5deb2d3e6dc50f57f90d8281262795fd6085ab492a955bdd3204e3840b9d5589577a2b6ecaa036c8bff3cb5783090e6d4137e26234e8a753700"

    static func relayKey() throws -> Ed25519PrivateKey { try Ed25519PrivateKey(seed: hex(Ed25519PrivateKeyTests.specSeed)) }
    static func peerKey() throws -> Ed25519PrivateKey { try Ed25519PrivateKey(seed: [UInt8](repeating: 2, count: 32)) }
    static func voucher() throws -> Voucher {
        Voucher(relay: try relayKey().publicKey.peerID, peer: try peerKey().publicKey.peerID, expiration: 1_700_000_000)
    }

    func code(_ body: () throws -> Void) -> CryptoError.Code? {
        do { try body(); return nil } catch { return (error as? CryptoError)?.code }
    }

    @Test func reproducesTheFixture() throws {
        let v = try Self.voucher()
        #expect(Hex.encode(v.encoded) == Self.payload)
        #expect(v.encoded.count == 86)
        let signed = SignedEnvelope.signedBytes(domain: Voucher.domain, payloadType: Voucher.payloadType, payload: v.encoded)
        #expect(Hex.encode(signed) == "11" + Hex.encode(Array("libp2p-relay-rsvp".utf8)) + "020302" + "56" + Self.payload)
        let sealed = v.sealed(by: try Self.relayKey())
        #expect(Hex.encode(sealed) == Self.envelope)
        #expect(sealed.count == 196)
        let env = try SignedEnvelope.open(sealed, domain: Voucher.domain)
        #expect(Hex.encode(env.signature) == Self.signature)
        #expect(env.signer == v.relay)
        #expect(try Voucher.open(hex(Self.envelope)) == v)
    }

    @Test func signerMustBeTheRelayWhenAsked() throws {
        let v = try Self.voucher()
        let byPeer = v.sealed(by: try Self.peerKey())
        #expect(code { _ = try Voucher.open(byPeer) } == .peerIDMismatch)
        #expect(try Voucher.open(byPeer, requireSignerIsRelay: false) == v)
    }

    @Test func tamperingBreaksTheSignature() throws {
        var bytes = hex(Self.envelope)
        bytes[bytes.count - 100] ^= 1  // inside the payload
        #expect(code { _ = try Voucher.open(bytes) } == .badSignature)
        // The domain is part of what is signed.
        #expect(code { _ = try SignedEnvelope.open(hex(Self.envelope), domain: "libp2p-peer-record") } == .badSignature)
    }

    @Test func wrongPayloadTypeIsRefused() throws {
        let v = try Self.voucher()
        // The uvarint 0x0302 (82 06) is not the raw bytes 03 02 (wire.md §6.3, P9).
        let env = SignedEnvelope.seal(payload: v.encoded, payloadType: [0x82, 0x06], domain: Voucher.domain, key: try Self.relayKey())
        #expect(code { _ = try Voucher.open(env.encoded) } == .malformed)
    }

    @Test func decoderToleratesOrderAndUnknownFields() throws {
        let v = try Self.voucher()
        var w = ProtoWriter()
        w.writeVarint(field: 3, v.expiration)
        w.writeVarint(field: 7, 1)
        w.writeBytes(field: 2, v.peer.bytes)
        w.writeBytes(field: 1, v.relay.bytes)
        #expect(try Voucher(decoding: w.bytes) == v)
    }

    @Test func malformedVouchersAndEnvelopes() throws {
        let payload = hex(Self.payload)
        for n in 0..<payload.count {
            #expect(code { _ = try Voucher(decoding: Array(payload.prefix(n))) } == .malformed, "prefix \(n)")
        }
        let env = hex(Self.envelope)
        for n in 0..<env.count {
            #expect(code { _ = try Voucher.open(env.prefix(n)) } != nil, "prefix \(n)")
        }
        var w = ProtoWriter()
        w.writeBytes(field: 1, [0x00, 0x05, 1])  // not a peer ID
        w.writeBytes(field: 2, try Self.voucher().peer.bytes)
        w.writeVarint(field: 3, 1)
        #expect(code { _ = try Voucher(decoding: w.bytes) } == .malformed)
        #expect(code { _ = try SignedEnvelope.open([UInt8](repeating: 0, count: SignedEnvelope.maxLength + 1), domain: "x") } == .malformed)
        // An envelope signed by a non-Ed25519 key.
        var e = ProtoWriter()
        e.writeBytes(field: 1, hex(KeyProtobufTests.secp256k1Public))
        e.writeBytes(field: 2, Voucher.payloadType)
        e.writeBytes(field: 3, payload)
        e.writeBytes(field: 5, [UInt8](repeating: 1, count: 70))
        #expect(code { _ = try Voucher.open(e.bytes) } == .unsupportedKeyType)
    }
}
