/// yamux frame vocabulary (`/yamux/1.0.0`, hashicorp yamux spec; digest in wire.md §4.1).
///
/// Every frame starts with a 12-byte big-endian header: version (1), type (1), flags (2),
/// stream ID (4), length (4). Only Data frames carry a body of `length` bytes.
public enum YamuxFrame {
    /// Header size in bytes (wire.md §4.1).
    public static let headerSize = 12
    /// The only protocol version (wire.md §4.1): anything else is fatal.
    public static let version: UInt8 = 0
    /// Every stream starts with this receive window in each direction (wire.md §4.3). Both ends
    /// assume it without negotiation, so it is a protocol constant and not configurable.
    public static let initialWindow: UInt32 = 256 * 1024
    /// The session-level stream ID, used only by Ping and GoAway (wire.md §4.1).
    public static let sessionID: UInt32 = 0
}

/// Frame type (header byte 1). Values above 3 are a fatal protocol error.
public enum YamuxFrameType: UInt8, Sendable {
    case data = 0
    case windowUpdate = 1
    case ping = 2
    case goAway = 3
}

/// Header flags (bytes 2-3). Accepted on both Data and WindowUpdate frames (wire.md §9 P7).
public struct YamuxFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let syn = YamuxFlags(rawValue: 0x1)
    public static let ack = YamuxFlags(rawValue: 0x2)
    public static let fin = YamuxFlags(rawValue: 0x4)
    public static let rst = YamuxFlags(rawValue: 0x8)
}

/// A decoded 12-byte header. The raw version and type bytes are kept so the session can report
/// bad values; the header itself does not validate them.
public struct YamuxHeader: Equatable, Sendable {
    public var version: UInt8
    public var type: UInt8
    public var flags: YamuxFlags
    public var streamID: UInt32
    /// Data: payload bytes. WindowUpdate: window delta (or an error code with RST). Ping: opaque
    /// value. GoAway: error code.
    public var length: UInt32

    public init(version: UInt8 = YamuxFrame.version, type: YamuxFrameType, flags: YamuxFlags,
                streamID: UInt32, length: UInt32) {
        self.version = version; self.type = type.rawValue; self.flags = flags
        self.streamID = streamID; self.length = length
    }

    /// Reads a header from `raw[offset ..< offset + 12]`. The caller guarantees the 12 bytes exist.
    @inlinable
    public init(parsing raw: UnsafeRawBufferPointer, at offset: Int = 0) {
        precondition(offset >= 0 && raw.count - offset >= YamuxFrame.headerSize, "short yamux header")
        let w0 = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        version = UInt8(truncatingIfNeeded: w0 >> 24)
        type = UInt8(truncatingIfNeeded: w0 >> 16)
        flags = YamuxFlags(rawValue: UInt16(truncatingIfNeeded: w0))
        streamID = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        length = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
    }

    /// Decodes a header from exactly 12 bytes; `nil` for any other count.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count == YamuxFrame.headerSize else { return nil }
        self = bytes.withUnsafeBytes { YamuxHeader(parsing: $0) }
    }

    /// Appends the 12 header bytes to `out` (one append, no temporary array).
    @inlinable
    public func encode(into out: inout [UInt8]) {
        let w0 = UInt32(version) << 24 | UInt32(type) << 16 | UInt32(flags.rawValue)
        // A homogeneous tuple is laid out contiguously, so this is 12 bytes in wire order.
        var words = (w0.bigEndian, streamID.bigEndian, length.bigEndian)
        withUnsafeBytes(of: &words) { out.append(contentsOf: $0.assumingMemoryBound(to: UInt8.self)) }
    }

    /// The 12 header bytes as a new array (tests and diagnostics; the hot path uses `encode(into:)`).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(YamuxFrame.headerSize)
        encode(into: &out)
        return out
    }
}
