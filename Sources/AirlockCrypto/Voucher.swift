import AirlockCore

/// A Circuit Relay v2 reservation voucher (wire.md §5.3, §6.3): the relay vouches that `peer`
/// holds a reservation until `expiration` (Unix seconds). Sent inside a signed envelope with
/// domain `libp2p-relay-rsvp` and payload type `03 02` (raw bytes, not a uvarint).
public struct Voucher: Sendable, Equatable {
    public static let domain = "libp2p-relay-rsvp"
    /// go `RecordCodec` / js: the two raw bytes 0x03 0x02 (wire.md §6.3, pitfall P9).
    public static let payloadType: [UInt8] = [0x03, 0x02]

    public var relay: PeerID
    public var peer: PeerID
    public var expiration: UInt64

    public init(relay: PeerID, peer: PeerID, expiration: UInt64) {
        self.relay = relay; self.peer = peer; self.expiration = expiration
    }

    /// Canonical payload: fields 1, 2, 3 in order, minimal varints, nothing else (js re-encodes
    /// before verifying, so anything else would break the signature there).
    public var encoded: [UInt8] {
        var w = ProtoWriter()
        w.writeBytes(field: 1, relay.bytes)
        w.writeBytes(field: 2, peer.bytes)
        w.writeVarint(field: 3, expiration)
        return w.bytes
    }

    /// Decodes a voucher payload (fields in any order, unknown fields skipped, all three required).
    public init(decoding bytes: [UInt8]) throws(CryptoError) {
        var reader = ProtoReader(bytes)
        var relay: PeerID?, peer: PeerID?, expiration: UInt64?
        do throws(DecodeError) {
            while let (number, wire) = try reader.nextField() {
                switch number {
                case 1:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Voucher.relay")
                    relay = try PeerID(bytes: try reader.readBytes(cap: PeerID.maxLength))
                case 2:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Voucher.peer")
                    peer = try PeerID(bytes: try reader.readBytes(cap: PeerID.maxLength))
                case 3:
                    try ProtoReader.expect(wire, .varint, field: "Voucher.expiration")
                    expiration = try reader.readVarint()
                default:
                    try reader.skip(wire)
                }
            }
        } catch {
            throw .malformed("reservation voucher", error)
        }
        guard let relay, let peer, let expiration else {
            throw CryptoError(.malformed, "reservation voucher lacks relay, peer or expiration")
        }
        self.init(relay: relay, peer: peer, expiration: expiration)
    }

    /// The signed envelope bytes, signed by `key` (the relay's identity).
    public func sealed(by key: Ed25519PrivateKey) -> [UInt8] {
        SignedEnvelope.seal(payload: encoded, payloadType: Voucher.payloadType, domain: Voucher.domain, key: key).encoded
    }

    /// Opens and verifies a voucher envelope. With `requireSignerIsRelay` (the default), the
    /// envelope must be signed by the relay the voucher names (`.peerIDMismatch` otherwise).
    public static func open<C: Collection>(_ envelope: C, requireSignerIsRelay: Bool = true) throws(CryptoError) -> Voucher where C.Element == UInt8 {
        let env = try SignedEnvelope.open(envelope, domain: domain)
        guard env.payloadType == payloadType else {
            throw CryptoError(.malformed, "signed envelope payload type \(Hex.encode(env.payloadType)) is not a reservation voucher (0302)")
        }
        let voucher = try Voucher(decoding: env.payload)
        if requireSignerIsRelay && env.signer != voucher.relay {
            throw CryptoError(.peerIDMismatch, "voucher names relay \(voucher.relay) but is signed by \(env.signer)")
        }
        return voucher
    }
}
