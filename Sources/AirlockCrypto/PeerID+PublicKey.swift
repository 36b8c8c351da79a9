import AirlockCore

/// Peer ID derivation from public keys (wire.md §3.3).
extension PeerID {
    /// The peer ID of an Ed25519 key: the identity multihash of its 36-byte protobuf (`12D3KooW…`).
    public init(publicKey: Ed25519PublicKey) {
        self = PeerID.derive(fromCanonicalKey: publicKey.protobuf)
    }

    /// The peer ID of any libp2p `PublicKey` protobuf (RSA, Secp256k1, ECDSA included): the key
    /// is re-encoded canonically, then inlined as an identity multihash when it is at most 42
    /// bytes, hashed with sha2-256 otherwise.
    public init<C: Collection>(publicKeyProtobuf: C) throws(CryptoError) where C.Element == UInt8 {
        let pb = try KeyProtobuf.decode(Array(publicKeyProtobuf)[...], what: "PublicKey")
        self = PeerID.derive(fromCanonicalKey: pb.canonical)
    }

    private static func derive(fromCanonicalKey key: [UInt8]) -> PeerID {
        var mh: [UInt8]
        if key.count <= PeerID.maxInlineKeyLength {
            mh = [PeerID.identityCode]
            UVarint.encode(UInt64(key.count), into: &mh)
            mh += key
        } else {
            mh = [PeerID.sha256Code, UInt8(SHA256.byteCount)] + SHA256.hash(key)
        }
        // Both shapes are valid multihashes by construction.
        return try! PeerID(bytes: mh)
    }

    /// The Ed25519 key inlined in an identity peer ID. A hashed peer ID (`Qm…`) does not carry
    /// its key (`.invalidKey`); an inlined key of another type is `.unsupportedKeyType`.
    public func ed25519PublicKey() throws(CryptoError) -> Ed25519PublicKey {
        guard let inlined = inlinedPublicKey else {
            throw CryptoError(.invalidKey, "peer ID \(self) is a hash and does not carry its public key")
        }
        return try Ed25519PublicKey(protobuf: inlined)
    }

    /// True when `key` is the key this peer ID names.
    public func matches(_ key: Ed25519PublicKey) -> Bool { self == PeerID(publicKey: key) }
}

extension Ed25519PublicKey {
    /// This key's peer ID.
    public var peerID: PeerID { PeerID(publicKey: self) }
}
