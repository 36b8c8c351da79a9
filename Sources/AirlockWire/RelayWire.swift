import AirlockCore

/// Caps and helpers shared by the hop and stop message codecs.
enum RelayWire {
    /// Every hop/stop message is at most 4096 bytes (go and rust `maxMessageSize`, wire.md §5.2).
    static let maxMessageLength = 4096

    /// A uint32 field: values over 32 bits are malformed.
    static func uint32(_ value: UInt64, field: String) throws(DecodeError) -> UInt32 {
        guard value <= UInt64(UInt32.max) else { throw .invalid("\(field) value \(value) out of range") }
        return UInt32(value)
    }

    /// Multiaddrs from repeated bytes fields. Addresses we cannot decode (unsupported protocols such
    /// as webtransport, or junk) are skipped rather than failing the message: an address list is
    /// advisory, and refusing a whole reservation over one exotic address would hurt interop.
    static func appendAddress(_ raw: ArraySlice<UInt8>, to addrs: inout [Multiaddr]) {
        if let a = try? Multiaddr(bytes: raw) { addrs.append(a) }
    }
}
