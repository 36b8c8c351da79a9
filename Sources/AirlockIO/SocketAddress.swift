#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address and a TCP port.
///
/// Text forms: `127.0.0.1:4001` and `[::1]:4001` (brackets required for IPv6 with a port).
/// IPv6 scope ids are not represented (the project's links use IPv4 link-local addresses).
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public enum IP: Hashable, Sendable {
        /// IPv4, most significant byte first: 127.0.0.1 is `0x7f00_0001`.
        case v4(UInt32)
        /// IPv6 as two big-endian halves: ::1 is `(0, 1)`.
        case v6(UInt64, UInt64)
    }

    public var ip: IP
    public var port: UInt16

    public init(ip: IP, port: UInt16) { self.ip = ip; self.port = port }

    /// Parses an address without a port (`10.0.0.1`, `::1`, `[::1]`).
    public init?(ip text: String, port: UInt16) {
        var t = Substring(text)
        if t.hasPrefix("["), t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        guard let ip = SocketAddress.parseIP(String(t)) else { return nil }
        self.init(ip: ip, port: port)
    }

    /// Parses `host:port` where host is a literal IPv4 address or a bracketed IPv6 address.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let host = text[..<colon], portText = text[text.index(after: colon)...]
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = UInt16(portText) else { return nil }
        let isBracketed = host.hasPrefix("[") && host.hasSuffix("]")
        // An unbracketed host with a colon is IPv6 without brackets: ambiguous, refused.
        if !isBracketed && host.contains(":") { return nil }
        if isBracketed, case .v4 = SocketAddress.parseIP(String(host.dropFirst().dropLast())) { return nil }
        self.init(ip: String(host), port: port)
    }

    public static func loopbackV4(port: UInt16) -> SocketAddress { SocketAddress(ip: .v4(0x7f00_0001), port: port) }
    public static func loopbackV6(port: UInt16) -> SocketAddress { SocketAddress(ip: .v6(0, 1), port: port) }
    public static func anyV4(port: UInt16) -> SocketAddress { SocketAddress(ip: .v4(0), port: port) }
    public static func anyV6(port: UInt16) -> SocketAddress { SocketAddress(ip: .v6(0, 0), port: port) }

    public var isIPv6: Bool { if case .v6 = ip { return true } else { return false } }

    /// The address alone, in canonical text (`::1`, `127.0.0.1`).
    public var ipString: String {
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch ip {
        case .v4(let a):
            var raw = in_addr(s_addr: a.bigEndian)
            _ = inet_ntop(AF_INET, &raw, &buf, socklen_t(buf.count))
        case .v6(let hi, let lo):
            var bytes = (hi.bigEndian, lo.bigEndian)
            _ = inet_ntop(AF_INET6, &bytes, &buf, socklen_t(buf.count))
        }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { isIPv6 ? "[\(ipString)]:\(port)" : "\(ipString):\(port)" }

    private static func parseIP(_ text: String) -> IP? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return .v4(UInt32(bigEndian: v4.s_addr)) }
        var v6: (UInt64, UInt64) = (0, 0)
        if inet_pton(AF_INET6, text, &v6) == 1 { return .v6(UInt64(bigEndian: v6.0), UInt64(bigEndian: v6.1)) }
        return nil
    }

    // MARK: sockaddr conversion (internal: no C type in public API)

    var family: Int32 { isIPv6 ? AF_INET6 : AF_INET }

    /// Calls `body` with this address as a `sockaddr_in` / `sockaddr_in6`.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch ip {
        case .v4(let a):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = in_addr(s_addr: a.bigEndian)
            return withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6(let hi, let lo):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                withUnsafeBytes(of: (hi.bigEndian, lo.bigEndian)) { raw.copyMemory(from: $0) }
            }
            return withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// Reads an address filled in by the kernel (getsockname, getpeername).
    init?(_ storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(storage).load(as: sockaddr_in.self)
            self.init(ip: .v4(UInt32(bigEndian: sin.sin_addr.s_addr)), port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = UnsafeRawPointer(storage).load(as: sockaddr_in6.self)
            let halves = withUnsafeBytes(of: sin6.sin6_addr) { $0.loadUnaligned(as: (UInt64, UInt64).self) }
            self.init(ip: .v6(UInt64(bigEndian: halves.0), UInt64(bigEndian: halves.1)), port: UInt16(bigEndian: sin6.sin6_port))
        default:
            return nil
        }
    }
}
