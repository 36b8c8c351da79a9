import AirlockCore

/// libp2p's `NoiseHandshakePayload` (wire.md §2.4): field 1 identity_key (a `PublicKey`
/// protobuf), field 2 identity_sig, field 4 extensions (kept as raw bytes; we neither send
/// `stream_muxers` nor act on received extensions, wire.md §2.5). Unknown fields are skipped.
struct NoiseHandshakePayload: Equatable {
    /// The text signed before the X25519 static key (24 ASCII bytes, wire.md §2.4).
    static let signaturePrefix = Array("noise-libp2p-static-key:".utf8)
    /// Signatures of any libp2p key type fit (RSA-4096: 512 bytes).
    static let maxSignatureLength = 1024

    var identityKey: [UInt8]
    var identitySignature: [UInt8]
    var extensions: [UInt8]?

    /// Our payload: the identity key and its signature over the prefix and `staticPublicKey`.
    init(identity: Ed25519PrivateKey, staticPublicKey: [UInt8]) {
        identityKey = identity.publicKey.protobuf
        identitySignature = identity.sign(NoiseHandshakePayload.signaturePrefix + staticPublicKey)
        extensions = nil
    }

    init(identityKey: [UInt8], identitySignature: [UInt8], extensions: [UInt8]? = nil) {
        self.identityKey = identityKey
        self.identitySignature = identitySignature
        self.extensions = extensions
    }

    /// Decodes a payload from the peer; both identity fields are required.
    init(decoding bytes: [UInt8]) throws(CryptoError) {
        var reader = ProtoReader(bytes)
        var key: [UInt8]?, sig: [UInt8]?, ext: [UInt8]?
        do throws(DecodeError) {
            while let (number, wire) = try reader.nextField() {
                switch number {
                case 1:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "identity_key")
                    key = Array(try reader.readBytes(cap: KeyProtobuf.maxLength))
                case 2:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "identity_sig")
                    sig = Array(try reader.readBytes(cap: NoiseHandshakePayload.maxSignatureLength))
                case 4:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "extensions")
                    ext = Array(try reader.readBytes(cap: bytes.count))
                default:
                    try reader.skip(wire)
                }
            }
        } catch {
            throw .malformed("Noise handshake payload", error)
        }
        guard let key, !key.isEmpty else { throw CryptoError(.malformed, "Noise handshake payload lacks identity_key") }
        guard let sig, !sig.isEmpty else { throw CryptoError(.malformed, "Noise handshake payload lacks identity_sig") }
        self.init(identityKey: key, identitySignature: sig, extensions: ext)
    }

    var encoded: [UInt8] {
        var w = ProtoWriter()
        w.writeBytes(field: 1, identityKey)
        w.writeBytes(field: 2, identitySignature)
        if let extensions { w.writeBytes(field: 4, extensions) }
        return w.bytes
    }

    /// Checks the identity (wire.md §2.4 steps 1-3): an Ed25519 key whose signature covers the
    /// prefix and the static key `remoteStatic` received in this very handshake.
    func verifiedIdentity(remoteStatic: [UInt8]) throws(CryptoError) -> Ed25519PublicKey {
        let key = try Ed25519PublicKey(protobuf: identityKey)
        guard key.verify(signature: identitySignature, message: NoiseHandshakePayload.signaturePrefix + remoteStatic) else {
            throw CryptoError(.badSignature, "Noise handshake: identity signature over the static key does not verify")
        }
        return key
    }
}
