import AirlockCore

/// The host of an exit request in the one form rules are matched against: a lowercase DNS name
/// without a trailing dot, or an IP address.
///
/// Requests are normalised, not merely checked, so that no spelling of a host dodges an address
/// rule or the exit's blocklist, and no name is one a C resolver would read as an address:
/// - an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is its IPv4 address;
/// - every numeric IPv4 form `inet_aton(3)` reads (`127.1`, `0x7f.1`, `2130706433`, `010.0.0.1`)
///   is the address it reads; a text whose last label starts with a digit but that inet_aton
///   refuses is refused, as is a numeric form with a trailing dot (`numericIPv4`);
/// - an IPv6 address with a zone (`fe80::1%eth0`) is refused;
/// - a name with non-ASCII labels becomes its `xn--` form (`bücher.example` →
///   `xn--bcher-kva.example`; see `asciiForm` for the IDNA steps and what is refused); an
///   `xn--` label written as such is kept, lowercased.
///
/// The resulting names are ASCII: labels of letters, digits, `-` and `_`, 1 to 63 characters, not
/// starting or ending with `-`, 253 characters in all, the last label starting with a letter.
///
/// Rules are stricter (`HostPattern.parse`): they must be written in one canonical spelling, so
/// they refuse the odd forms above instead of reading them; both share `normaliseName`.
public enum NormalisedHost: Hashable, Sendable, CustomStringConvertible {
    case name(String)
    case address(IPAddress)

    public static let maxNameLength = 253

    /// Normalises a host as a client wrote it (`Example.COM.`, `10.0.0.1`, `127.1`, `::1`, `[::1]`).
    public init?(_ text: String) {
        guard case .success(let host) = NormalisedHost.parse(Substring(text)) else { return nil }
        self = host
    }

    /// Like `init?` but says what is wrong.
    public static func parse(_ text: Substring) -> Result<NormalisedHost, PatternError> {
        guard text.utf8.count <= maxRequestLength else {
            return .failure(PatternError("host longer than \(maxRequestLength) bytes"))
        }
        var inner = text
        if text.hasPrefix("[") {
            guard text.hasSuffix("]"), text.count >= 2 else { return .failure(PatternError("\"\(text)\" opens '[' without closing it")) }
            inner = text.dropFirst().dropLast()
            if inner.contains("%") { return .failure(zoneError(inner)) }
            guard let ip = IPAddress(inner), ip.isIPv6 else { return .failure(PatternError("\"\(inner)\" in brackets is not an IPv6 address")) }
        }
        if let ip = IPAddress(inner) { return .success(.address(ip.mappedIPv4 ?? ip)) }
        if inner.contains(":") && inner.contains("%") { return .failure(zoneError(inner)) }
        let ascii: Substring
        switch asciiForm(inner) {
        case .success(let a): ascii = Substring(a)
        case .failure(let e): return .failure(e)
        }
        // Full-width dots may have spelled an address (`127。0。0。1`).
        if let ip = IPAddress(ascii) { return .success(.address(ip.mappedIPv4 ?? ip)) }
        if let numeric = numericIPv4(ascii) { return numeric.map { .address($0) } }
        return normaliseName(ascii).map { .name($0) }
    }

    private static func zoneError(_ text: Substring) -> PatternError {
        PatternError("\"\(text)\" has a zone (%…); an exit request names an address without one")
    }

    /// Lowercases and checks a DNS name, dropping one trailing dot.
    static func normaliseName(_ text: Substring) -> Result<String, PatternError> {
        var name = text
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty else { return .failure(PatternError("empty host name")) }
        guard name.utf8.count <= maxNameLength else { return .failure(PatternError("host name longer than \(maxNameLength) characters")) }
        guard name.utf8.allSatisfy({ $0 < 0x80 }) else {
            return .failure(PatternError("host name \"\(text)\" is not ASCII; write its xn-- (punycode) form"))
        }
        let lower = name.lowercased()
        let labels = lower.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty else { return .failure(PatternError("host name \"\(text)\" has an empty label")) }
            guard label.utf8.count <= 63 else { return .failure(PatternError("host name label \"\(label)\" is longer than 63 characters")) }
            guard label.utf8.allSatisfy(isLabelByte) else {
                return .failure(PatternError("host name \"\(text)\" may hold only letters, digits, '-', '_' and '.'"))
            }
            guard label.first != "-", label.last != "-" else {
                return .failure(PatternError("host name label \"\(label)\" starts or ends with '-'"))
            }
        }
        guard let first = labels.last!.utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else {
            return .failure(PatternError("\"\(text)\" is neither an IP address nor a host name (the last label must start with a letter)"))
        }
        return .success(lower)
    }

    private static func isLabelByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }

    public var description: String {
        switch self {
        case .name(let n): return n
        case .address(let ip): return ip.isIPv4 ? ip.description : "[\(ip)]"
        }
    }
}
