import AirlockCore

/// Circuit Relay v2 `StopMessage` (wire.md §5.3), spoken on `/libp2p/circuit/relay/0.2.0/stop`
/// from the relay to the target client. Framed as `uvarint(len) || protobuf`, at most 4096 bytes.
///
/// Encoding always writes `type`, even CONNECT (0) (wire.md §9 P8). Decoding skips unknown fields.
public struct StopMessage: Hashable, Sendable {
    public enum Kind: UInt32, Sendable {
        case connect = 0, status = 1
    }

    public var type: Kind
    public var peer: RelayPeer?
    public var limit: Limit?
    public var status: RelayStatus?

    public init(type: Kind, peer: RelayPeer? = nil, limit: Limit? = nil, status: RelayStatus? = nil) {
        self.type = type; self.peer = peer; self.limit = limit; self.status = status
    }

    /// CONNECT from `peer` (the source of the circuit), as the relay sends it.
    public static func connect(from peer: PeerID, limit: Limit? = nil) -> StopMessage {
        StopMessage(type: .connect, peer: RelayPeer(id: peer), limit: limit)
    }

    /// STATUS, as the target answers.
    public static func status(_ status: RelayStatus) -> StopMessage { StopMessage(type: .status, status: status) }

    /// The protobuf body (no length prefix), fields in tag order.
    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.writeVarint(field: 1, UInt64(type.rawValue))
        if let peer { w.writeBytes(field: 2, peer.encode()) }
        if let limit { w.writeBytes(field: 3, limit.encode()) }
        if let status { w.writeVarint(field: 4, UInt64(status.rawValue)) }
        return w.bytes
    }

    /// `uvarint(len) || protobuf`, ready to write on the stream.
    public func framed() -> [UInt8] {
        let body = encode()
        precondition(body.count <= RelayWire.maxMessageLength, "StopMessage of \(body.count) bytes is over the 4096-byte cap")
        return Delimited.frame(body)
    }

    /// Takes one framed message from `buffer`; nil (nothing consumed) until it is complete.
    /// Never reads past the message: the bytes after it are circuit data.
    public static func read(from buffer: inout ByteBuffer) throws(DecodeError) -> StopMessage? {
        guard let body = try Delimited.read(from: &buffer, cap: RelayWire.maxMessageLength) else { return nil }
        return try StopMessage(decoding: body[...])
    }

    /// Decodes a protobuf body (no length prefix).
    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        guard bytes.count <= RelayWire.maxMessageLength else {
            throw .tooLarge(what: "StopMessage", size: UInt64(bytes.count), cap: RelayWire.maxMessageLength)
        }
        var r = ProtoReader(bytes)
        var type: Kind?
        var message = StopMessage(type: .status)
        while let (number, wireType) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(wireType, .varint, field: "StopMessage.type")
                let raw = try r.readVarint()
                guard raw <= UInt64(UInt32.max), let k = Kind(rawValue: UInt32(raw)) else { throw .invalid("StopMessage.type \(raw) unknown") }
                type = k
            case 2:
                try ProtoReader.expect(wireType, .lengthDelimited, field: "StopMessage.peer")
                message.peer = try RelayPeer(decoding: try r.readBytes(cap: RelayWire.maxMessageLength))
            case 3:
                try ProtoReader.expect(wireType, .lengthDelimited, field: "StopMessage.limit")
                message.limit = try Limit(decoding: try r.readBytes(cap: RelayWire.maxMessageLength))
            case 4:
                try ProtoReader.expect(wireType, .varint, field: "StopMessage.status")
                message.status = try RelayStatus(wire: try r.readVarint(), field: "StopMessage.status")
            default: try r.skip(wireType)
            }
        }
        guard let type else { throw .missingField("StopMessage.type") }
        message.type = type
        self = message
    }
}
