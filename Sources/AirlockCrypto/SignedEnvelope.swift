import AirlockCore

/// A libp2p signed envelope (RFC 0002, wire.md §6): a payload, its type, the signer's public
/// key and a signature over `uvarint(len) || domain || uvarint(len) || payload_type ||
/// uvarint(len) || payload`. The domain is not sent; both sides know it.
///
/// Only Ed25519 signers are supported; other key types open to `.unsupportedKeyType`.
public struct SignedEnvelope: Sendable, Equatable {
    /// Envelopes we handle (reservation vouchers, peer records) are a few hundred bytes.
    public static let maxLength = 8192

    public let publicKey: Ed25519PublicKey
    public let payloadType: [UInt8]
    public let payload: [UInt8]
    public let signature: [UInt8]

    /// The signer's peer ID, derived from `publicKey`.
    public var signer: PeerID { PeerID(publicKey: publicKey) }

    /// Signs `payload` under `domain` with `key`.
    public static func seal(payload: [UInt8], payloadType: [UInt8], domain: String, key: Ed25519PrivateKey) -> SignedEnvelope {
        let signature = key.sign(signedBytes(domain: domain, payloadType: payloadType, payload: payload))
        return SignedEnvelope(publicKey: key.publicKey, payloadType: payloadType, payload: payload, signature: signature)
    }

    /// Decodes an envelope and verifies its signature under `domain`.
    public static func open<C: Collection>(_ bytes: C, domain: String) throws(CryptoError) -> SignedEnvelope where C.Element == UInt8 {
        guard bytes.count <= maxLength else {
            throw CryptoError(.malformed, "signed envelope of \(bytes.count) bytes exceeds cap of \(maxLength)")
        }
        let raw = Array(bytes)
        var reader = ProtoReader(raw)
        var key: ArraySlice<UInt8>?, type: ArraySlice<UInt8>?, payload: ArraySlice<UInt8>?, sig: ArraySlice<UInt8>?
        do throws(DecodeError) {
            while let (number, wire) = try reader.nextField() {
                switch number {
                case 1, 2, 3, 5:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Envelope field \(number)")
                    let value = try reader.readBytes(cap: maxLength)
                    switch number {
                    case 1: key = value
                    case 2: type = value
                    case 3: payload = value
                    default: sig = value
                    }
                default:
                    try reader.skip(wire)
                }
            }
        } catch {
            throw .malformed("signed envelope", error)
        }
        guard let key else { throw CryptoError(.malformed, "signed envelope lacks public_key") }
        guard let type else { throw CryptoError(.malformed, "signed envelope lacks payload_type") }
        guard let sig else { throw CryptoError(.malformed, "signed envelope lacks signature") }
        let envelope = SignedEnvelope(publicKey: try Ed25519PublicKey(protobuf: key), payloadType: Array(type),
                                      payload: Array(payload ?? []), signature: Array(sig))
        let signed = signedBytes(domain: domain, payloadType: envelope.payloadType, payload: envelope.payload)
        guard envelope.publicKey.verify(signature: envelope.signature, message: signed) else {
            throw CryptoError(.badSignature, "signed envelope signature does not verify for domain \(domain)")
        }
        return envelope
    }

    /// The canonical encoding: fields 1, 2, 3, 5 in order.
    public var encoded: [UInt8] {
        var w = ProtoWriter()
        w.writeBytes(field: 1, publicKey.protobuf)
        w.writeBytes(field: 2, payloadType)
        w.writeBytes(field: 3, payload)
        w.writeBytes(field: 5, signature)
        return w.bytes
    }

    /// The bytes the signature covers (wire.md §6.2).
    static func signedBytes(domain: String, payloadType: [UInt8], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for part in [Array(domain.utf8), payloadType, payload] {
            UVarint.encode(UInt64(part.count), into: &out)
            out += part
        }
        return out
    }
}
