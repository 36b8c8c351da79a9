import AirlockCore

/// libp2p key types (wire.md §3.1). Only Ed25519 keys can be used here; the others are named
/// so errors can say what arrived.
public enum KeyType: UInt64, Sendable, CustomStringConvertible {
    case rsa = 0, ed25519 = 1, secp256k1 = 2, ecdsa = 3
    public var description: String {
        switch self {
        case .rsa: return "RSA"
        case .ed25519: return "Ed25519"
        case .secp256k1: return "Secp256k1"
        case .ecdsa: return "ECDSA"
        }
    }
}

/// The shape shared by libp2p's `PublicKey` and `PrivateKey` protobufs (wire.md §3.1):
/// field 1 `Type` (enum varint), field 2 `Data` (bytes), both required.
///
/// Encoding is canonical (both fields, tag order, minimal varints, nothing else). Decoding
/// accepts the fields in any order and skips unknown fields, but refuses a missing or repeated
/// field, a wrong wire type, and anything over `maxLength`.
struct KeyProtobuf {
    /// Larger than any RSA-4096 public key (~550 bytes DER), far below anything hostile.
    static let maxLength = 2048

    let type: UInt64
    let data: ArraySlice<UInt8>

    /// The key type if it is one libp2p defines.
    var keyType: KeyType? { KeyType(rawValue: type) }

    static func decode(_ bytes: ArraySlice<UInt8>, what: String) throws(CryptoError) -> KeyProtobuf {
        guard bytes.count <= maxLength else {
            throw CryptoError(.malformed, "\(what) protobuf of \(bytes.count) bytes exceeds cap of \(maxLength)")
        }
        var reader = ProtoReader(bytes)
        var type: UInt64?
        var data: ArraySlice<UInt8>?
        do throws(DecodeError) {
            while let (number, wire) = try reader.nextField() {
                switch number {
                case 1:
                    try ProtoReader.expect(wire, .varint, field: "\(what).Type")
                    guard type == nil else { throw DecodeError.invalid("\(what).Type appears twice") }
                    type = try reader.readVarint()
                case 2:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "\(what).Data")
                    guard data == nil else { throw DecodeError.invalid("\(what).Data appears twice") }
                    data = try reader.readBytes(cap: maxLength)
                default:
                    try reader.skip(wire)
                }
            }
        } catch {
            throw .malformed("\(what) protobuf", error)
        }
        guard let type else { throw CryptoError(.malformed, "\(what) protobuf lacks the required Type field") }
        guard let data else { throw CryptoError(.malformed, "\(what) protobuf lacks the required Data field") }
        return KeyProtobuf(type: type, data: data)
    }

    static func encode<C: Collection>(type: UInt64, data: C) -> [UInt8] where C.Element == UInt8 {
        var w = ProtoWriter()
        w.writeVarint(field: 1, type)
        w.writeBytes(field: 2, data)
        return w.bytes
    }

    /// The canonical encoding of this key (what peer IDs are derived from).
    var canonical: [UInt8] { KeyProtobuf.encode(type: type, data: data) }

    /// Throws `.unsupportedKeyType` unless this is an Ed25519 key.
    func requireEd25519(_ what: String) throws(CryptoError) {
        guard keyType == .ed25519 else {
            let name = keyType.map { $0.description } ?? "unknown (\(type))"
            throw CryptoError(.unsupportedKeyType, "\(what) has key type \(name); only Ed25519 keys are supported")
        }
    }
}

extension Ed25519PublicKey {
    /// Decodes a libp2p `PublicKey` protobuf holding an Ed25519 key.
    public init<C: Collection>(protobuf: C) throws(CryptoError) where C.Element == UInt8 {
        let pb = try KeyProtobuf.decode(Array(protobuf)[...], what: "PublicKey")
        try pb.requireEd25519("PublicKey")
        try self.init(bytes: pb.data)
    }

    /// The canonical libp2p `PublicKey` protobuf: `08 01 12 20 <32 bytes>` (36 bytes).
    public var protobuf: [UInt8] { KeyProtobuf.encode(type: KeyType.ed25519.rawValue, data: bytes) }
}

extension Ed25519PrivateKey {
    /// Decodes a libp2p `PrivateKey` protobuf holding an Ed25519 key (64- or 96-byte Data).
    public convenience init(protobuf: SecretBytes) throws(CryptoError) {
        let data: SecretBytes = try protobuf.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws(CryptoError) -> SecretBytes in
            // The decoder wants an array; this temporary copy is wiped on every exit.
            var copy = Array(raw.bindMemory(to: UInt8.self))
            defer { Sodium.wipe(&copy) }
            let pb = try KeyProtobuf.decode(copy[...], what: "PrivateKey")
            try pb.requireEd25519("PrivateKey")
            return SecretBytes(copying: pb.data)
        }
        try self.init(libp2pData: data)
    }

    /// The canonical libp2p `PrivateKey` protobuf (`08 01 12 40 <seed || public>`), in protected memory.
    public var protobuf: SecretBytes {
        libp2pData.withUnsafeBytes { d in
            SecretBytes(count: 4 + d.count) { (out: UnsafeMutableRawBufferPointer) in
                out[0] = 0x08; out[1] = UInt8(KeyType.ed25519.rawValue); out[2] = 0x12; out[3] = UInt8(d.count)
                UnsafeMutableRawBufferPointer(rebasing: out[4...]).copyMemory(from: d)
            }
        }
    }
}
