import AirlockCore

/// Circuit Relay v2 `HopMessage` (wire.md §5.3), spoken on `/libp2p/circuit/relay/0.2.0/hop`
/// between a client and the relay. Framed as `uvarint(len) || protobuf`, at most 4096 bytes (§5.2).
///
/// Encoding always writes `type`, even RESERVE (0): proto2 peers require it and the js relay
/// refuses a message without it (wire.md §9 P8). Decoding skips unknown fields (py-libp2p adds a
/// field 6) and keeps fields the spec does not use for a given type; judging them is the caller's job.
public struct HopMessage: Hashable, Sendable {
    public enum Kind: UInt32, Sendable {
        case reserve = 0, connect = 1, status = 2
    }

    public var type: Kind
    public var peer: RelayPeer?
    public var reservation: Reservation?
    public var limit: Limit?
    public var status: RelayStatus?

    public init(type: Kind, peer: RelayPeer? = nil, reservation: Reservation? = nil, limit: Limit? = nil, status: RelayStatus? = nil) {
        self.type = type; self.peer = peer; self.reservation = reservation; self.limit = limit; self.status = status
    }

    /// RESERVE, as a client sends it.
    public static var reserve: HopMessage { HopMessage(type: .reserve) }

    /// CONNECT to `peer`, as a client sends it.
    public static func connect(to peer: PeerID) -> HopMessage { HopMessage(type: .connect, peer: RelayPeer(id: peer)) }

    /// STATUS, as the relay answers.
    public static func status(_ status: RelayStatus, reservation: Reservation? = nil, limit: Limit? = nil) -> HopMessage {
        HopMessage(type: .status, reservation: reservation, limit: limit, status: status)
    }

    /// The protobuf body (no length prefix), fields in tag order.
    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.writeVarint(field: 1, UInt64(type.rawValue))
        if let peer { w.writeBytes(field: 2, peer.encode()) }
        if let reservation { w.writeBytes(field: 3, reservation.encode()) }
        if let limit { w.writeBytes(field: 4, limit.encode()) }
        if let status { w.writeVarint(field: 5, UInt64(status.rawValue)) }
        return w.bytes
    }

    /// `uvarint(len) || protobuf`, ready to write on the stream.
    public func framed() -> [UInt8] {
        let body = encode()
        precondition(body.count <= RelayWire.maxMessageLength, "HopMessage of \(body.count) bytes is over the 4096-byte cap")
        return Delimited.frame(body)
    }

    /// Takes one framed message from `buffer`; nil (nothing consumed) until it is complete.
    /// Never reads past the message: the bytes after it may already be circuit data (wire.md §5.2).
    public static func read(from buffer: inout ByteBuffer) throws(DecodeError) -> HopMessage? {
        guard let body = try Delimited.read(from: &buffer, cap: RelayWire.maxMessageLength) else { return nil }
        return try HopMessage(decoding: body[...])
    }

    /// Decodes a protobuf body (no length prefix).
    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        guard bytes.count <= RelayWire.maxMessageLength else {
            throw .tooLarge(what: "HopMessage", size: UInt64(bytes.count), cap: RelayWire.maxMessageLength)
        }
        var r = ProtoReader(bytes)
        var type: Kind?
        var message = HopMessage(type: .status)
        while let (number, wireType) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(wireType, .varint, field: "HopMessage.type")
                let raw = try r.readVarint()
                guard raw <= UInt64(UInt32.max), let k = Kind(rawValue: UInt32(raw)) else { throw .invalid("HopMessage.type \(raw) unknown") }
                type = k
            case 2:
                try ProtoReader.expect(wireType, .lengthDelimited, field: "HopMessage.peer")
                message.peer = try RelayPeer(decoding: try r.readBytes(cap: RelayWire.maxMessageLength))
            case 3:
                try ProtoReader.expect(wireType, .lengthDelimited, field: "HopMessage.reservation")
                message.reservation = try Reservation(decoding: try r.readBytes(cap: RelayWire.maxMessageLength))
            case 4:
                try ProtoReader.expect(wireType, .lengthDelimited, field: "HopMessage.limit")
                message.limit = try Limit(decoding: try r.readBytes(cap: RelayWire.maxMessageLength))
            case 5:
                try ProtoReader.expect(wireType, .varint, field: "HopMessage.status")
                message.status = try RelayStatus(wire: try r.readVarint(), field: "HopMessage.status")
            default: try r.skip(wireType)
            }
        }
        guard let type else { throw .missingField("HopMessage.type") }
        message.type = type
        self = message
    }
}
