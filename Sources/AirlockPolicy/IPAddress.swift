/// An IPv4 or IPv6 address: its 4 or 16 bytes in network order.
///
/// Parsing is strict on purpose, because policy patterns and exit requests must mean exactly one
/// address: IPv4 only as four decimal parts without leading zeros (no `0x7f.1`, `127.1` or
/// `010.0.0.1`, which C resolvers read as other addresses); IPv6 in RFC 4291 text form without a
/// zone and without brackets. Printing follows RFC 5952 (lowercase, longest zero run compressed).
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public var isV4: Bool { bytes.count == 4 }

    /// `nil` unless `bytes` holds exactly 4 or 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a dotted-quad IPv4 address or an IPv6 address (no brackets, no zone).
    public init?<S: StringProtocol>(_ text: S) {
        let utf8 = Array(text.utf8)
        if let v4 = IPAddress.parseV4(utf8[...]) { bytes = v4; return }
        guard let v6 = IPAddress.parseV6(utf8[...]) else { return nil }
        bytes = v6
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), else `nil`.
    public var mappedV4: IPAddress? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return nil }
        return IPAddress(bytes: Array(bytes[12..<16]))
    }

    /// Whether the first `length` bits equal those of `network` (same family only).
    public func isInside(_ network: IPAddress, prefixLength length: Int) -> Bool {
        guard bytes.count == network.bytes.count, length >= 0, length <= bytes.count * 8 else { return false }
        let whole = length / 8
        for i in 0..<whole where bytes[i] != network.bytes[i] { return false }
        let rest = length % 8
        guard rest > 0 else { return true }
        let mask = UInt8(0xff) << (8 - rest)
        return bytes[whole] & mask == network.bytes[whole] & mask
    }

    /// Whether any bit after the first `length` is set (a CIDR written with host bits).
    func hasBits(after length: Int) -> Bool {
        for bit in length..<(bytes.count * 8) where bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 { return true }
        return false
    }

    public var description: String {
        if isV4 { return bytes.map { String($0) }.joined(separator: ".") }
        if let v4 = mappedV4 { return "::ffff:" + v4.description }
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
        guard text.count >= 2, text.count <= 45 else { return nil }
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
