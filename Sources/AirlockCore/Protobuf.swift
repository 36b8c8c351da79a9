/// A small protobuf reader and writer: varint and length-delimited fields, unknown fields skipped,
/// every length checked against the cap the caller gives. Enough for libp2p's proto2/proto3 messages.
public enum ProtoWireType: UInt8, Sendable {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
}

/// Reads fields one by one from a complete message. Never traps on hostile input.
public struct ProtoReader {
    public let bytes: ArraySlice<UInt8>
    private var index: Int

    public init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes; index = bytes.startIndex }
    public init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    public var isAtEnd: Bool { index >= bytes.endIndex }

    /// The next field's number and wire type, or nil at the end of the message.
    public mutating func nextField() throws(DecodeError) -> (number: UInt32, type: ProtoWireType)? {
        if isAtEnd { return nil }
        let key = try readVarint()
        guard let type = ProtoWireType(rawValue: UInt8(key & 7)) else { throw .invalid("protobuf wire type \(key & 7) not supported") }
        let number = key >> 3
        guard number >= 1, number <= 0x1fff_ffff else { throw .invalid("protobuf field number \(number) out of range") }
        return (UInt32(number), type)
    }

    public mutating func readVarint() throws(DecodeError) -> UInt64 {
        guard let (v, n) = try ProtoVarint.decode(bytes[index...]) else { throw .truncated("protobuf varint") }
        index += n
        return v
    }

    /// A length-delimited field's bytes, at most `cap` long.
    public mutating func readBytes(cap: Int) throws(DecodeError) -> ArraySlice<UInt8> {
        let len = try readVarint()
        guard len <= UInt64(cap) else { throw .tooLarge(what: "protobuf field", size: len, cap: cap) }
        guard len <= UInt64(bytes.endIndex - index) else { throw .truncated("protobuf field") }
        defer { index += Int(len) }
        return bytes[index ..< index + Int(len)]
    }

    public mutating func readString(cap: Int) throws(DecodeError) -> String {
        let raw = try readBytes(cap: cap)
        guard let s = String(validating: raw, as: UTF8.self) else { throw .invalid("protobuf string is not UTF-8") }
        return s
    }

    /// Skips a field of the given wire type (unknown fields).
    public mutating func skip(_ type: ProtoWireType) throws(DecodeError) {
        switch type {
        case .varint: _ = try readVarint()
        case .lengthDelimited: _ = try readBytes(cap: bytes.count)
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        }
    }

    private mutating func advance(_ n: Int) throws(DecodeError) {
        guard bytes.endIndex - index >= n else { throw .truncated("protobuf fixed field") }
        index += n
    }

    /// Throws unless `type` is `expected`: a field we know, sent with the wrong type, is malformed.
    public static func expect(_ type: ProtoWireType, _ expected: ProtoWireType, field: String) throws(DecodeError) {
        guard type == expected else { throw .invalid("protobuf field \(field) has wire type \(type.rawValue), expected \(expected.rawValue)") }
    }
}

/// Writes fields in the order called. Callers write fields in tag order to keep encodings canonical.
public struct ProtoWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func writeVarint(field: UInt32, _ value: UInt64) {
        UVarint.encode(UInt64(field) << 3 | 0, into: &bytes)
        UVarint.encode(value, into: &bytes)
    }
    public mutating func writeBytes<C: Collection>(field: UInt32, _ value: C) where C.Element == UInt8 {
        UVarint.encode(UInt64(field) << 3 | 2, into: &bytes)
        UVarint.encode(UInt64(value.count), into: &bytes)
        bytes.append(contentsOf: value)
    }
    public mutating func writeString(field: UInt32, _ value: String) { writeBytes(field: field, Array(value.utf8)) }
}

/// Length-prefixed messages (`uvarint(len) || body`), the framing of hop/stop, identify and friends.
public enum Delimited {
    public static func frame(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 3)
        UVarint.encode(UInt64(body.count), into: &out)
        out.append(contentsOf: body)
        return out
    }

    /// Takes one message from `buffer` if it is all there; nil (nothing consumed) otherwise.
    /// Throws when the declared length is over `cap`, before waiting for the body.
    public static func read(from buffer: inout ByteBuffer, cap: Int) throws(DecodeError) -> [UInt8]? {
        guard let (len, n) = try UVarint.decode(buffer.readableView) else { return nil }
        guard len <= UInt64(cap) else { throw .tooLarge(what: "length-prefixed message", size: len, cap: cap) }
        guard buffer.readableBytes - n >= Int(len) else { return nil }
        buffer.skip(n)
        return buffer.readBytes(count: Int(len))
    }
}
