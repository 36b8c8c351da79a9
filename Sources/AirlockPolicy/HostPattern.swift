import AirlockCore

/// The host half of a destination rule.
///
/// - `exact`: one DNS name, `api.github.com`; matches that name only.
/// - `subdomains`: `*.example.com`; matches every name that ends in `.example.com` with at least
///   one more label (`a.example.com`, `a.b.example.com`), never `example.com` itself and never
///   `evilexample.com`. The `*` stands for whole labels and may appear only as the first label.
/// - `address`: one IP literal, `10.0.0.5` or `[2001:db8::5]`.
/// - `network`: a CIDR block, `10.0.0.0/8` or `[2001:db8::/32]`, written without host bits.
///
/// Name patterns match names and address patterns match addresses, never across: the exit
/// resolves a name only after it matched a rule (design §2 invariant 6).
public enum HostPattern: Hashable, Sendable, CustomStringConvertible {
    case exact(String)
    case subdomains(of: String)
    case address(IPAddress)
    case network(IPAddress, prefixLength: Int)

    /// Parses the host half of a destination (the text before `:PORT`).
    public static func parse(_ text: Substring) -> Result<HostPattern, PatternError> {
        guard !text.isEmpty else { return .failure(PatternError("missing host")) }
        var inner = text
        var bracketed = false
        if text.hasPrefix("[") {
            guard text.hasSuffix("]"), text.count >= 2 else { return .failure(PatternError("\"\(text)\" opens '[' without closing it")) }
            inner = text.dropFirst().dropLast()
            bracketed = true
        }
        if let slash = inner.firstIndex(of: "/") {
            return network(address: inner[..<slash], prefix: inner[inner.index(after: slash)...], bracketed: bracketed)
        }
        if let ip = IPAddress(inner) {
            if let failure = checkFamily(ip, bracketed: bracketed) { return .failure(failure) }
            return .success(.address(ip))
        }
        if bracketed { return .failure(PatternError("\"\(inner)\" in brackets is not an IPv6 address")) }
        if inner == "*" {
            return .failure(PatternError("a bare '*' host is not allowed; name the domain, as in *.example.com"))
        }
        if inner.hasPrefix("*.") {
            let domain = inner.dropFirst(2)
            guard !domain.contains("*") else { return .failure(PatternError("'*' may appear only once, as the first label")) }
            return NormalisedHost.normaliseName(domain).map { .subdomains(of: $0) }
        }
        guard !inner.contains("*") else {
            return .failure(PatternError("'*' may appear only as a whole first label, as in *.example.com"))
        }
        return NormalisedHost.normaliseName(inner).map { .exact($0) }
    }

    private static func network(address: Substring, prefix: Substring, bracketed: Bool) -> Result<HostPattern, PatternError> {
        guard let ip = IPAddress(address) else { return .failure(PatternError("\"\(address)\" before '/' is not an IP address")) }
        if let failure = checkFamily(ip, bracketed: bracketed) { return .failure(failure) }
        let bits = ip.bytes.count * 8
        guard (1...3).contains(prefix.utf8.count), prefix.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              prefix == "0" || prefix.first != "0", let length = Int(prefix), length <= bits else {
            return .failure(PatternError("prefix length \"\(prefix)\" is not a number from 0 to \(bits)"))
        }
        guard !ip.hasBits(after: length) else {
            let fixed = ip.masked(toPrefixLength: length)
            let hint = fixed.isIPv4 ? "\(fixed)/\(length)" : "[\(fixed)/\(length)]"
            return .failure(PatternError("\(ip)/\(length) has host bits set; did you mean \(hint)?"))
        }
        return .success(.network(ip, prefixLength: length))
    }

    /// IPv6 goes in brackets and IPv4 does not; IPv4-mapped IPv6 is refused so each address has one spelling.
    private static func checkFamily(_ ip: IPAddress, bracketed: Bool) -> PatternError? {
        if ip.isIPv4 && bracketed { return PatternError("IPv4 address \(ip) must not be in brackets") }
        if ip.isIPv6 && !bracketed { return PatternError("IPv6 address \(ip) must be in brackets, as in [\(ip)]:443") }
        if let v4 = ip.mappedIPv4 { return PatternError("[\(ip)] is an IPv4-mapped address; write it as \(v4)") }
        return nil
    }

    /// Whether `host` (already normalised) is one this pattern allows.
    public func matches(_ host: NormalisedHost) -> Bool {
        switch (self, host) {
        case (.exact(let name), .name(let h)):
            return h == name
        case (.subdomains(let domain), .name(let h)):
            // The dot before the suffix keeps label boundaries: `evilexample.com` does not end in `.example.com`.
            return h.utf8.count > domain.utf8.count + 1 && h.hasSuffix("." + domain)
        case (.address(let ip), .address(let a)):
            return a == ip
        case (.network(let net, let length), .address(let a)):
            return a.isInside(net, prefixLength: length)
        default:
            return false
        }
    }

    /// Whether this pattern names `address` explicitly (an address or network pattern containing
    /// it). Exits use this to let a rule reach an address they would otherwise refuse (private,
    /// loopback, …) only when the rule names it by address.
    public func names(_ address: IPAddress) -> Bool { matches(.address(address.mappedIPv4 ?? address)) }

    /// The text `parse` reads: lowercase names, RFC 5952 IPv6 in brackets.
    public var description: String {
        switch self {
        case .exact(let name): return name
        case .subdomains(let domain): return "*." + domain
        case .address(let ip): return ip.isIPv4 ? ip.description : "[\(ip)]"
        case .network(let ip, let length): return ip.isIPv4 ? "\(ip)/\(length)" : "[\(ip)/\(length)]"
        }
    }
}
