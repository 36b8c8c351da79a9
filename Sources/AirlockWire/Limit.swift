import AirlockCore

/// Circuit Relay v2 `Limit` (wire.md §5.3): how long a relayed connection may last and how many
/// bytes it may carry in each direction. 0 means "no limit" for each field.
///
/// Zero fields are not written (a proto2 reader then sees them absent, which every implementation
/// treats as unlimited); an absent field decodes as 0. A whole absent `Limit` means no limits.
public struct Limit: Hashable, Sendable {
    /// Seconds; 0 = unlimited.
    public var duration: UInt32
    /// Bytes per direction; 0 = unlimited.
    public var data: UInt64

    public init(duration: UInt32 = 0, data: UInt64 = 0) { self.duration = duration; self.data = data }

    public var isUnlimited: Bool { duration == 0 && data == 0 }

    /// The protobuf body (no length prefix).
    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        if duration != 0 { w.writeVarint(field: 1, UInt64(duration)) }
        if data != 0 { w.writeVarint(field: 2, data) }
        return w.bytes
    }

    /// Decodes a protobuf body; unknown fields are skipped.
    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        var r = ProtoReader(bytes)
        self.init()
        while let (number, type) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(type, .varint, field: "Limit.duration")
                duration = try RelayWire.uint32(try r.readVarint(), field: "Limit.duration")
            case 2:
                try ProtoReader.expect(type, .varint, field: "Limit.data")
                data = try r.readVarint()
            default: try r.skip(type)
            }
        }
    }
}
