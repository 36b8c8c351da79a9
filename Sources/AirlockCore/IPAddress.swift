/// An IPv4 or IPv6 address: its 4 or 16 bytes in network order, as carried by the multiaddr
/// components ip4 and ip6 (wire.md §5.8) and as written in policy rules and exit requests.
///
/// Parsing is strict on purpose, because an address from a peer, a policy pattern or an exit
/// request must mean exactly one address: IPv4 only as four decimal parts without leading zeros
/// (no `0x7f.1`, `127.1` or `010.0.0.1`, which C resolvers read as other addresses); IPv6 in
/// RFC 4291 text form without a zone and without brackets. Printing follows RFC 5952 (lowercase,
/// longest run of two or more zero groups compressed, `::ffff:a.b.c.d` for IPv4-mapped).
/// Text longer than `maxTextLength` is refused before any work is done on it.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The longest text form: an IPv6 address with an embedded IPv4 tail
    /// (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`, 45 characters; INET6_ADDRSTRLEN less the NUL).
    public static let maxTextLength = 45

    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public var isIPv4: Bool { bytes.count == 4 }
    public var isIPv6: Bool { bytes.count == 16 }

    /// `nil` unless `bytes` holds exactly 4 or 16 bytes.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    /// The IPv4 address `a.b.c.d`.
    public init(ipv4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) { bytes = [a, b, c, d] }

    /// Parses a dotted-quad IPv4 address or an IPv6 address (no brackets, no zone).
    public init?<S: StringProtocol>(_ text: S) {
        guard text.utf8.count <= IPAddress.maxTextLength else { return nil }
        let utf8 = Array(text.utf8)
        if let v4 = IPAddress.parseV4(utf8[...]) { bytes = v4; return }
        guard let v6 = IPAddress.parseV6(utf8[...]) else { return nil }
        bytes = v6
    }

    /// Parses a dotted-quad IPv4 address only.
    public init?<S: StringProtocol>(ipv4 text: S) {
        guard text.utf8.count <= IPAddress.maxTextLength, let v4 = IPAddress.parseV4(Array(text.utf8)[...]) else { return nil }
        bytes = v4
    }

    /// Parses IPv6 text only. An IPv4-mapped `::ffff:1.2.3.4` is accepted (it is IPv6 syntax) and
    /// stays 16 bytes; `mappedIPv4` unwraps it.
    public init?<S: StringProtocol>(ipv6 text: S) {
        guard text.utf8.count <= IPAddress.maxTextLength, let v6 = IPAddress.parseV6(Array(text.utf8)[...]) else { return nil }
        bytes = v6
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), else `nil`.
    public var mappedIPv4: IPAddress? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return nil }
        return IPAddress(bytes: bytes[12..<16])
    }

    /// Whether the first `length` bits equal those of `network`. Always false across families or
    /// for a `length` outside 0 through the address width.
    public func isInside(_ network: IPAddress, prefixLength length: Int) -> Bool {
        guard bytes.count == network.bytes.count, length >= 0, length <= bytes.count * 8 else { return false }
        let whole = length / 8
        for i in 0..<whole where bytes[i] != network.bytes[i] { return false }
        let rest = length % 8
        guard rest > 0 else { return true }
        let mask = UInt8(0xff) << (8 - rest)
        return bytes[whole] & mask == network.bytes[whole] & mask
    }

    /// Whether any bit after the first `length` is set (a CIDR block written with host bits).
    /// `length` must lie in 0 through the address width (32 or 128).
    public func hasBits(after length: Int) -> Bool {
        precondition(length >= 0 && length <= bytes.count * 8, "prefix length \(length) outside the address width")
        for bit in length..<(bytes.count * 8) where bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 { return true }
        return false
    }

    /// This address with every bit after the first `length` cleared (the network it lies in).
    /// `length` must lie in 0 through the address width (32 or 128).
    public func masked(toPrefixLength length: Int) -> IPAddress {
        precondition(length >= 0 && length <= bytes.count * 8, "prefix length \(length) outside the address width")
        var out = bytes
        for bit in length..<(bytes.count * 8) { out[bit / 8] &= ~(0x80 >> UInt8(bit % 8)) }
        return IPAddress(bytes: out)!
    }

    public var description: String {
        if isIPv4 { return bytes.map { String($0) }.joined(separator: ".") }
        if let v4 = mappedIPv4 { return "::ffff:" + v4.description }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first on a tie.
        var bestStart = -1, bestLength = 1, i = 0
        while i < 8 {
            guard groups[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8, groups[j] == 0 { j += 1 }
            if j - i > bestLength { bestStart = i; bestLength = j - i }
            i = j
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        return hex[..<bestStart].joined(separator: ":") + "::" + hex[(bestStart + bestLength)...].joined(separator: ":")
    }

    // MARK: parsing

    private static func parseV4(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count <= 15 else { return nil }
        let parts = text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(4)
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(isDigit) else { return nil }
            guard part.count == 1 || part.first != UInt8(ascii: "0") else { return nil }
            let value = part.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard value <= 255 else { return nil }
            out.append(UInt8(value))
        }
        return out
    }

    private static func parseV6(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count >= 2, text.count <= maxTextLength else { return nil }
        var text = text
        var tail: [UInt16] = []
        // An embedded IPv4 tail (`::ffff:1.2.3.4`) stands for the last two groups.
        if let lastColon = text.lastIndex(of: UInt8(ascii: ":")), text[(lastColon + 1)...].contains(UInt8(ascii: ".")) {
            guard let v4 = parseV4(text[(lastColon + 1)...]) else { return nil }
            tail = [UInt16(v4[0]) << 8 | UInt16(v4[1]), UInt16(v4[2]) << 8 | UInt16(v4[3])]
            // Keep the colon when it is the second half of `::`.
            let keepsColon = lastColon > text.startIndex && text[lastColon - 1] == UInt8(ascii: ":")
            text = text[..<(keepsColon ? lastColon + 1 : lastColon)]
        }
        var split: Int?
        var i = text.startIndex
        while i + 1 < text.endIndex {
            if text[i] == UInt8(ascii: ":"), text[i + 1] == UInt8(ascii: ":") {
                guard split == nil else { return nil }
                split = i
                i += 2
            } else { i += 1 }
        }
        var groups: [UInt16]
        if let s = split {
            guard let head = hexGroups(text[..<s]), let rest = hexGroups(text[(s + 2)...]) else { return nil }
            let zeros = 8 - head.count - rest.count - tail.count
            guard zeros >= 1 else { return nil }
            groups = head + [UInt16](repeating: 0, count: zeros) + rest + tail
        } else {
            guard let all = hexGroups(text) else { return nil }
            groups = all + tail
            guard groups.count == 8 else { return nil }
        }
        return groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    private static func hexGroups(_ text: ArraySlice<UInt8>) -> [UInt16]? {
        guard !text.isEmpty else { return [] }
        var out: [UInt16] = []
        for part in text.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false) {
            guard (1...4).contains(part.count) else { return nil }
            var v: UInt16 = 0
            for c in part {
                guard let d = hexValue(c) else { return nil }
                v = v << 4 | UInt16(d)
            }
            out.append(v)
        }
        return out
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
