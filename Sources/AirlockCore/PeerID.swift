/// A libp2p peer ID: the multihash of a serialised public key (wire.md §3.3). Holds the binary
/// multihash; prints as base58btc; parses base58btc and CIDv1 (`b…`, codec libp2p-key) text.
///
/// Derivation from a public key lives in AirlockCrypto (`PeerID(publicKey:)`), which can hash.
public struct PeerID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// Multihash codes used by peer IDs.
    public static let identityCode: UInt8 = 0x00
    public static let sha256Code: UInt8 = 0x12
    /// Multicodec `libp2p-key` in CIDv1 text.
    public static let libp2pKeyCodec: UInt64 = 0x72
    /// Serialised public keys at most this long are inlined (identity multihash).
    public static let maxInlineKeyLength = 42
    /// No valid peer ID is longer than this (identity multihash of a 42-byte key plus header).
    public static let maxLength = 64

    public let bytes: [UInt8]

    /// Validates the multihash shape: identity (code 0, length matches) or sha2-256 (32 bytes).
    public init(bytes: [UInt8]) throws(DecodeError) {
        guard bytes.count <= PeerID.maxLength else { throw .tooLarge(what: "peer ID", size: UInt64(bytes.count), cap: PeerID.maxLength) }
        guard bytes.count >= 2 else { throw .truncated("peer ID multihash") }
        let code = bytes[0]
        guard let (len, n) = try UVarint.decode(bytes[1...]) else { throw .truncated("peer ID multihash length") }
        guard UInt64(bytes.count - 1 - n) == len else { throw .invalid("peer ID multihash length \(len) does not match its \(bytes.count - 1 - n) bytes") }
        switch code {
        case PeerID.identityCode:
            guard len <= UInt64(PeerID.maxInlineKeyLength) else { throw .invalid("identity peer ID holds a key over \(PeerID.maxInlineKeyLength) bytes") }
        case PeerID.sha256Code:
            guard len == 32 else { throw .invalid("sha2-256 peer ID must hold 32 bytes") }
        default:
            throw .invalid("peer ID multihash code 0x\(String(code, radix: 16)) not supported")
        }
        self.bytes = bytes
    }

    public init<C: Collection>(bytes: C) throws(DecodeError) where C.Element == UInt8 { try self.init(bytes: Array(bytes)) }

    /// Parses the base58btc form (`12D3KooW…`, `Qm…`, `16Uiu2…`) or the CIDv1 multibase form (`bafz…`).
    public init(_ text: String) throws(DecodeError) {
        guard !text.isEmpty, text.utf8.count <= 128 else { throw .invalid("peer ID text must be 1 to 128 characters") }
        if text.hasPrefix("1") || text.hasPrefix("Qm") {
            guard let raw = Base58.decode(text) else { throw .invalid("peer ID \"\(text)\" is not base58btc") }
            try self.init(bytes: raw)
            return
        }
        guard text.first == "b" || text.first == "B", let raw = Base32.decode(String(text.dropFirst())) else {
            throw .invalid("peer ID \"\(text)\" is neither base58btc nor base32 CIDv1")
        }
        guard let (version, n1) = try UVarint.decode(raw), version == 1 else { throw .invalid("peer ID CID is not version 1") }
        guard let (codec, n2) = try UVarint.decode(raw[n1...]), codec == PeerID.libp2pKeyCodec else { throw .invalid("peer ID CID codec is not libp2p-key (0x72)") }
        try self.init(bytes: raw[(n1 + n2)...])
    }

    /// The base58btc form, the usual display.
    public var description: String { Base58.encode(bytes) }

    /// The CIDv1 base32 form (`bafz…`).
    public var cidString: String {
        var raw: [UInt8] = [0x01]
        UVarint.encode(PeerID.libp2pKeyCodec, into: &raw)
        return "b" + Base32.encode(raw + bytes)
    }

    /// The serialised public key an identity peer ID carries, if it is one.
    public var inlinedPublicKey: ArraySlice<UInt8>? {
        guard bytes[0] == PeerID.identityCode, let (_, n) = try? UVarint.decode(bytes[1...]) else { return nil }
        return bytes[(1 + n)...]
    }

    /// A short form for logs: the last 6 characters.
    public var short: String { String(description.suffix(6)) }

    public static func < (a: PeerID, b: PeerID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}
