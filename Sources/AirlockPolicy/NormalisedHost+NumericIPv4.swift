import AirlockCore

/// The numeric IPv4 forms C resolvers accept. `getaddrinfo` and `gethostbyname` first try
/// `inet_aton(3)`, which reads much more than dotted quads: 1 to 4 parts, each decimal, octal
/// (leading `0`) or hex (`0x`/`0X`), the last part filling the remaining bytes. An exit that took
/// `127.1` or `0x7f000001` for a name would have its resolver dial loopback behind the
/// blocklist's back, so requests read these forms exactly as inet_aton does.
extension NormalisedHost {
    /// Reads a request host whose last label starts with a digit as `inet_aton(3)` would.
    ///
    /// - Returns: `nil` when the last label (after one trailing dot) does not start with an ASCII
    ///   digit, so the text is for the name checks; otherwise the address, or a failure when
    ///   inet_aton would refuse the text (a part too large for the bytes it fills, `08`, a bare
    ///   `0x`, an empty part, more than four parts, any other character).
    ///
    /// A numeric form with a trailing dot (`127.1.`, `10.0.0.1.`) is refused: inet_aton refuses
    /// it, so a resolver would send it to DNS as a name, yet it is no host name (the last label
    /// of a name starts with a letter), and reading it as an address would guess.
    static func numericIPv4(_ text: Substring) -> Result<IPAddress, PatternError>? {
        var body = text.utf8[...]
        let trailingDot = body.last == UInt8(ascii: ".")
        if trailingDot { body = body.dropLast() }
        let lastLabel = body.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).last ?? []
        guard let first = lastLabel.first, isDigit(first) else { return nil }
        guard !trailingDot else {
            return .failure(PatternError("\"\(text)\" is a number followed by a dot: neither an IPv4 address nor a host name"))
        }
        guard let address = readInetAton(body) else {
            return .failure(PatternError("\"\(text)\" is neither an IPv4 address (as inet_aton reads it) nor a host name (the last label must start with a letter)"))
        }
        return .success(address)
    }

    /// inet_aton(3): `a`, `a.b` (b fills 24 bits), `a.b.c` (c fills 16 bits) or `a.b.c.d`; every
    /// part but the last at most 255.
    private static func readInetAton(_ text: Substring.UTF8View.SubSequence) -> IPAddress? {
        let parts = text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt32] = []
        for part in parts {
            guard let v = readPart(part) else { return nil }
            values.append(v)
        }
        let last = values.removeLast()
        guard values.allSatisfy({ $0 <= 0xff }) else { return nil }
        // The last part fills the 4 - values.count bytes left.
        let lastBits = UInt32(8 * (4 - values.count))
        guard lastBits == 32 || last >> lastBits == 0 else { return nil }
        var word = last
        for (i, v) in values.enumerated() { word |= v << UInt32(24 - 8 * i) }
        return IPAddress(ipv4: UInt8(word >> 24), UInt8(word >> 16 & 0xff), UInt8(word >> 8 & 0xff), UInt8(word & 0xff))
    }

    /// One part as `strtoul(…, 0)` reads it when inet_aton then demands that the whole part was
    /// consumed: starts with a digit, `0x`/`0X` then at least one hex digit, `0` then octal
    /// digits, else decimal; `nil` past 32 bits (inet_aton refuses those too).
    private static func readPart(_ part: Substring.UTF8View.SubSequence) -> UInt32? {
        guard let first = part.first, isDigit(first) else { return nil }
        var digits = part
        var radix: UInt32 = 10
        if first == UInt8(ascii: "0"), part.count > 1 {
            let second = part[part.index(after: part.startIndex)]
            if second == UInt8(ascii: "x") || second == UInt8(ascii: "X") {
                radix = 16
                digits = part.dropFirst(2)
                guard !digits.isEmpty else { return nil }
            } else {
                radix = 8
                digits = part.dropFirst()
            }
        }
        var value: UInt32 = 0
        for c in digits {
            guard let d = digitValue(c), d < radix else { return nil }
            let (shifted, o1) = value.multipliedReportingOverflow(by: radix)
            let (sum, o2) = shifted.addingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func digitValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
