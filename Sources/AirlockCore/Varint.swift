/// Multiformats unsigned varint (LEB128, minimal, at most 9 bytes, 63 bits) and the protobuf varint
/// (at most 10 bytes, 64 bits). See wire.md §0.2.
public enum UVarint {
    public static let maxBytes = 9

    /// Appends the minimal encoding of `value` (which must fit 63 bits for multiformats use).
    public static func encode(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 { out.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    public static func encode(_ value: UInt64) -> [UInt8] { var o: [UInt8] = []; encode(value, into: &o); return o }
    public static func encodedSize(_ value: UInt64) -> Int { var n = 1, v = value; while v >= 0x80 { v >>= 7; n += 1 }; return n }

    /// Decodes a multiformats uvarint at the start of `bytes`. Returns nil when more bytes are needed.
    /// Throws on non-minimal encodings and on more than 9 bytes.
    public static func decode<C: Collection>(_ bytes: C) throws(DecodeError) -> (value: UInt64, size: Int)? where C.Element == UInt8 {
        try decode(bytes, maxBytes: maxBytes)
    }

    @usableFromInline static func decode<C: Collection>(_ bytes: C, maxBytes: Int) throws(DecodeError) -> (value: UInt64, size: Int)? where C.Element == UInt8 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var n = 0
        for b in bytes {
            n += 1
            if n > maxBytes { throw .varintTooLong }
            let part = UInt64(b & 0x7f)
            if shift == 63 && part > 1 { throw .varintTooLong }
            value |= part << shift
            if b & 0x80 == 0 {
                if n > 1 && b == 0 { throw .nonMinimalVarint }
                return (value, n)
            }
            shift += 7
        }
        return nil
    }

    /// Reads a uvarint from `buffer`; nil (nothing consumed) when incomplete.
    public static func read(from buffer: inout ByteBuffer) throws(DecodeError) -> UInt64? {
        guard let (v, n) = try decode(buffer.readableView) else { return nil }
        buffer.skip(n)
        return v
    }
}

/// The protobuf varint: like `UVarint` but up to 10 bytes, as protobuf allows for 64-bit values.
/// Non-minimal encodings are rejected here too: nothing we read legitimately produces them.
public enum ProtoVarint {
    public static let maxBytes = 10
    public static func decode<C: Collection>(_ bytes: C) throws(DecodeError) -> (value: UInt64, size: Int)? where C.Element == UInt8 {
        try UVarint.decode(bytes, maxBytes: maxBytes)
    }
}
