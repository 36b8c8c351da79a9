import AirlockCore

/// Circuit Relay v2 `Reservation` (wire.md §5.3), sent by the relay with an OK answer to RESERVE.
///
/// `expire` is required (always written, absence is `DecodeError.missingField`). `addrs` are the
/// relay's own addresses including `/p2p/<relayID>`; undecodable ones are skipped. `voucher` is a
/// serialised signed envelope (wire.md §6), carried here as opaque bytes: AirlockCrypto builds
/// and checks it.
public struct Reservation: Hashable, Sendable {
    /// Absolute UTC Unix time in seconds.
    public var expire: UInt64
    public var addrs: [Multiaddr]
    public var voucher: [UInt8]?

    public init(expire: UInt64, addrs: [Multiaddr] = [], voucher: [UInt8]? = nil) {
        self.expire = expire; self.addrs = addrs; self.voucher = voucher
    }

    /// The protobuf body (no length prefix).
    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.writeVarint(field: 1, expire)
        for a in addrs { w.writeBytes(field: 2, a.bytes) }
        if let voucher { w.writeBytes(field: 3, voucher) }
        return w.bytes
    }

    /// Decodes a protobuf body; unknown fields are skipped.
    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        var r = ProtoReader(bytes)
        var expire: UInt64?
        var addrs: [Multiaddr] = []
        var voucher: [UInt8]?
        while let (number, type) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(type, .varint, field: "Reservation.expire")
                expire = try r.readVarint()
            case 2:
                try ProtoReader.expect(type, .lengthDelimited, field: "Reservation.addrs")
                RelayWire.appendAddress(try r.readBytes(cap: RelayWire.maxMessageLength), to: &addrs)
            case 3:
                try ProtoReader.expect(type, .lengthDelimited, field: "Reservation.voucher")
                voucher = Array(try r.readBytes(cap: RelayWire.maxMessageLength))
            default: try r.skip(type)
            }
        }
        guard let expire else { throw .missingField("Reservation.expire") }
        self.init(expire: expire, addrs: addrs, voucher: voucher)
    }
}
