import AirlockCore

/// Where an agent's proxied TCP connection wants to go: a host (a DNS name or an IP literal) and
/// a port, as named by a SOCKS5 request or an HTTP proxy request.
///
/// Names are never resolved inside the agent namespace (design.md §4): the name travels as text
/// to the exit, which matches it against policy and resolves it there. So this type only makes
/// sure the text is a plausible host and canonical enough to log and match:
/// * IP literals are re-printed from their bytes (`IPAddress`, RFC 5952 for IPv6), never bracketed;
/// * names are ASCII letters, digits, `-`, `_` and `.` (ASCII letters lowercased), or an
///   internationalised name in UTF-8 without invisible characters, at most `maxHostLength` bytes.
///   The exit's own normalisation (`NormalisedHost`) is the authority; this check only keeps
///   control bytes, spaces, colons, slashes and the like out of logs and requests.
/// Port 0 is refused: nothing can be reached there.
public struct ProxyTarget: Hashable, Sendable, CustomStringConvertible {
    /// SOCKS5 carries a name in at most 255 bytes (RFC 1928 §5); HTTP gets the same cap.
    public static let maxHostLength = 255

    /// A lowercase DNS name or the text of an IP address (no brackets).
    public let host: String
    public let port: UInt16

    /// Checks and canonicalises `host` (see the type's contract); `nil` if it is not acceptable.
    public init?(host: String, port: UInt16) {
        guard port != 0, let h = ProxyTarget.canonicalHost(host.utf8) else { return nil }
        self.host = h
        self.port = port
    }

    /// A target from a raw IP address (4 or 16 bytes).
    public init?(address: IPAddress, port: UInt16) {
        guard port != 0 else { return nil }
        self.host = address.description
        self.port = port
    }

    /// Parses an authority: `host:port`, `[v6]:port`, or (with `defaultPort`) `host` / `[v6]`.
    /// A bare IPv6 address without brackets is refused (its colons make the port ambiguous).
    public init?(authority: Substring, defaultPort: UInt16? = nil) {
        var hostText: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { return nil }
                portText = rest.dropFirst()
            }
            guard let ip = IPAddress(ipv6: hostText) else { return nil }
            hostText = Substring(ip.description)
        } else if let colon = authority.firstIndex(of: ":") {
            hostText = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
            guard !hostText.contains(":"), !(portText?.contains(":") ?? false) else { return nil }
        } else {
            hostText = authority
        }
        let port: UInt16
        if let portText {
            guard let p = ProxyTarget.parsePort(portText) else { return nil }
            port = p
        } else {
            guard let defaultPort else { return nil }
            port = defaultPort
        }
        self.init(host: String(hostText), port: port)
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Decimal digits only (no sign, no spaces), 1 to 65535; leading zeros are tolerated up to
    /// five digits, as clients do send `:080`.
    static func parsePort(_ text: Substring) -> UInt16? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let v = Int(text), v >= 1, v <= Int(UInt16.max) else { return nil }
        return UInt16(v)
    }

    /// The canonical text for a host given as bytes, or `nil`.
    static func canonicalHost<C: Collection>(_ bytes: C) -> String? where C.Element == UInt8 {
        guard !bytes.isEmpty, bytes.count <= maxHostLength else { return nil }
        if bytes.count <= IPAddress.maxTextLength, let text = String(validating: bytes, as: UTF8.self),
           let ip = IPAddress(text) {
            return ip.description
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                out.append(b)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                out.append(b + 0x20)
            case 0x80...:
                out.append(b)  // part of an internationalised name: checked whole below
            default:
                return nil
            }
        }
        // A name of dots alone names nothing; one trailing dot (`web.`, fully qualified) is the
        // same name, so `web.` reaches service `web`.
        guard out.contains(where: { $0 != UInt8(ascii: ".") }) else { return nil }
        if out.last == UInt8(ascii: "."), out.dropLast().last != UInt8(ascii: ".") { out.removeLast() }
        guard let text = String(validating: out, as: UTF8.self) else { return nil }
        // Internationalised names go to the exit as UTF-8 (it maps them to their xn-- form);
        // nothing invisible or line-breaking gets into a request or a log line.
        let invisible: Set<Unicode.GeneralCategory> = [.control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator,
                                                       .privateUse, .surrogate, .unassigned]
        guard text.unicodeScalars.allSatisfy({ !invisible.contains($0.properties.generalCategory) }) else { return nil }
        return text
    }
}
