import AirlockCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as raw network-order bytes (4 or 16), as carried by multiaddr
/// components ip4 and ip6 (wire.md §5.8).
///
/// Text forms go through `inet_pton`/`inet_ntop`: IPv4 is strict dotted decimal, IPv6 prints in the
/// compressed form (RFC 5952 style, `::ffff:a.b.c.d` for IPv4-mapped). Zones (`%eth0`) are not accepted.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public var isIPv4: Bool { bytes.count == 4 }

    /// nil unless `bytes` holds exactly 4 or 16 bytes.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    public init(ipv4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) { bytes = [a, b, c, d] }

    /// Parses dotted-decimal IPv4 (`127.0.0.1`) or IPv6 text (`::1`, `2001:db8::1`).
    public init?(_ text: String) {
        if let v4 = IPAddress(ipv4: text) { self = v4 } else if let v6 = IPAddress(ipv6: text) { self = v6 } else { return nil }
    }

    /// Strict dotted decimal only.
    public init?(ipv4 text: String) {
        guard let raw = IPAddress.pton(family: AF_INET, text, count: 4) else { return nil }
        bytes = raw
    }

    /// IPv6 text only (an IPv4-mapped `::ffff:1.2.3.4` is accepted: it is IPv6 syntax).
    public init?(ipv6 text: String) {
        guard let raw = IPAddress.pton(family: AF_INET6, text, count: 16) else { return nil }
        bytes = raw
    }

    public var description: String {
        let family = isIPv4 ? AF_INET : AF_INET6
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                inet_ntop(family, src.baseAddress, dst.baseAddress, socklen_t(dst.count)) != nil
            }
        }
        precondition(ok, "inet_ntop failed on a 4 or 16 byte address")
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func pton(family: Int32, _ text: String, count: Int) -> [UInt8]? {
        // The longest IPv6 text (with an embedded IPv4) is 45 characters; refuse anything longer
        // before handing it to C.
        guard text.utf8.count <= Int(INET6_ADDRSTRLEN), !text.utf8.contains(0) else { return nil }
        var raw = [UInt8](repeating: 0, count: count)
        let rc = raw.withUnsafeMutableBytes { dst in inet_pton(family, text, dst.baseAddress) }
        return rc == 1 ? raw : nil
    }
}
