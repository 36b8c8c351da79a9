import AirlockCore

/// The host of an exit request in the one form rules are matched against: a lowercase DNS name
/// without a trailing dot, or an IP address (IPv4-mapped IPv6 addresses become IPv4, so an IPv4
/// rule cannot be dodged by writing `::ffff:10.0.0.1`).
///
/// Names are ASCII (internationalised names in their `xn--` form), labels of letters, digits,
/// `-` and `_`, 1 to 63 characters, not starting or ending with `-`, 253 characters in all. The
/// last label must start with a letter: that refuses numeric forms such as `127.1` or
/// `0x7f000001` that C resolvers would read as addresses.
public enum NormalisedHost: Hashable, Sendable, CustomStringConvertible {
    case name(String)
    case address(IPAddress)

    public static let maxNameLength = 253

    /// Normalises a host as a client wrote it (`Example.COM.`, `10.0.0.1`, `::1`, `[::1]`).
    public init?(_ text: String) {
        guard case .success(let host) = NormalisedHost.parse(Substring(text)) else { return nil }
        self = host
    }

    /// Like `init?` but says what is wrong.
    public static func parse(_ text: Substring) -> Result<NormalisedHost, PatternError> {
        var inner = text
        if text.hasPrefix("[") {
            guard text.hasSuffix("]"), text.count >= 2 else { return .failure(PatternError("\"\(text)\" opens '[' without closing it")) }
            inner = text.dropFirst().dropLast()
            guard let ip = IPAddress(inner), ip.isIPv6 else { return .failure(PatternError("\"\(inner)\" in brackets is not an IPv6 address")) }
        }
        if let ip = IPAddress(inner) { return .success(.address(ip.mappedIPv4 ?? ip)) }
        return normaliseName(inner).map { .name($0) }
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
