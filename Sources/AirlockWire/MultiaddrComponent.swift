import AirlockCore

/// One `/protocol/value` part of a multiaddr. Codes and value encodings from multiaddr
/// `protocols.csv` (wire.md §5.8). Only protocols we can parse end to end are listed; an address
/// carrying any other code cannot be decoded, because the value length of an unknown protocol is
/// not knowable.
public enum MultiaddrComponent: Hashable, Sendable, CustomStringConvertible {
    case ip4(IPAddress)
    case ip6(IPAddress)
    case tcp(UInt16)
    case udp(UInt16)
    case dns(String)
    case dns4(String)
    case dns6(String)
    case dnsaddr(String)
    /// `/p2p/<peer ID>` (text alias `/ipfs/` accepted on input).
    case p2p(PeerID)
    /// `/p2p-circuit`: the part before it reaches a relay, the part after names the target.
    case p2pCircuit
    case quicV1, tls, noise, ws, wss

    /// Multicodec codes (multiaddr protocols.csv).
    public enum Code {
        public static let ip4: UInt64 = 4, tcp: UInt64 = 6, ip6: UInt64 = 41
        public static let dns: UInt64 = 53, dns4: UInt64 = 54, dns6: UInt64 = 55, dnsaddr: UInt64 = 56
        public static let udp: UInt64 = 273, p2pCircuit: UInt64 = 290, p2p: UInt64 = 421
        public static let tls: UInt64 = 448, noise: UInt64 = 454, quicV1: UInt64 = 461
        public static let ws: UInt64 = 477, wss: UInt64 = 478
    }

    /// A DNS name is at most 255 bytes (RFC 1035); longer values are refused on decode.
    public static let maxDNSNameLength = 255

    public var code: UInt64 {
        switch self {
        case .ip4: Code.ip4
        case .ip6: Code.ip6
        case .tcp: Code.tcp
        case .udp: Code.udp
        case .dns: Code.dns
        case .dns4: Code.dns4
        case .dns6: Code.dns6
        case .dnsaddr: Code.dnsaddr
        case .p2p: Code.p2p
        case .p2pCircuit: Code.p2pCircuit
        case .quicV1: Code.quicV1
        case .tls: Code.tls
        case .noise: Code.noise
        case .ws: Code.ws
        case .wss: Code.wss
        }
    }

    /// The protocol's text name, as in `/name/value`.
    public var name: String { MultiaddrComponent.name(of: code) ?? "?" }

    static func name(of code: UInt64) -> String? {
        switch code {
        case Code.ip4: "ip4"
        case Code.ip6: "ip6"
        case Code.tcp: "tcp"
        case Code.udp: "udp"
        case Code.dns: "dns"
        case Code.dns4: "dns4"
        case Code.dns6: "dns6"
        case Code.dnsaddr: "dnsaddr"
        case Code.p2p: "p2p"
        case Code.p2pCircuit: "p2p-circuit"
        case Code.quicV1: "quic-v1"
        case Code.tls: "tls"
        case Code.noise: "noise"
        case Code.ws: "ws"
        case Code.wss: "wss"
        default: nil
        }
    }

    static func code(ofName name: Substring) -> UInt64? {
        switch name {
        case "ip4": Code.ip4
        case "ip6": Code.ip6
        case "tcp": Code.tcp
        case "udp": Code.udp
        case "dns": Code.dns
        case "dns4": Code.dns4
        case "dns6": Code.dns6
        case "dnsaddr": Code.dnsaddr
        case "p2p", "ipfs": Code.p2p
        case "p2p-circuit": Code.p2pCircuit
        case "quic-v1": Code.quicV1
        case "tls": Code.tls
        case "noise": Code.noise
        case "ws": Code.ws
        case "wss": Code.wss
        default: nil
        }
    }

    /// Whether the protocol carries a value (in text: whether a `/value` segment follows).
    static func hasValue(_ code: UInt64) -> Bool {
        switch code {
        case Code.p2pCircuit, Code.quicV1, Code.tls, Code.noise, Code.ws, Code.wss: false
        default: true
        }
    }

    /// The text form of the value, or nil for valueless protocols.
    public var textValue: String? {
        switch self {
        case .ip4(let a), .ip6(let a): a.description
        case .tcp(let p), .udp(let p): String(p)
        case .dns(let n), .dns4(let n), .dns6(let n), .dnsaddr(let n): n
        case .p2p(let id): id.description
        case .p2pCircuit, .quicV1, .tls, .noise, .ws, .wss: nil
        }
    }

    /// `/name` or `/name/value`.
    public var description: String {
        if let v = textValue { return "/\(name)/\(v)" }
        return "/\(name)"
    }

    // MARK: binary

    /// Appends `uvarint(code) || value` (wire.md §5.8).
    public func encode(into out: inout [UInt8]) {
        UVarint.encode(code, into: &out)
        switch self {
        case .ip4(let a), .ip6(let a): out.append(contentsOf: a.bytes)
        case .tcp(let p), .udp(let p): out.append(UInt8(p >> 8)); out.append(UInt8(truncatingIfNeeded: p))
        case .dns(let n), .dns4(let n), .dns6(let n), .dnsaddr(let n):
            UVarint.encode(UInt64(n.utf8.count), into: &out)
            out.append(contentsOf: n.utf8)
        case .p2p(let id):
            UVarint.encode(UInt64(id.bytes.count), into: &out)
            out.append(contentsOf: id.bytes)
        case .p2pCircuit, .quicV1, .tls, .noise, .ws, .wss: break
        }
    }

    /// Decodes one component from the start of a complete binary multiaddr.
    /// Returns the component and how many bytes it used; throws on anything malformed or truncated.
    static func decode(_ bytes: ArraySlice<UInt8>) throws(DecodeError) -> (MultiaddrComponent, Int) {
        guard let (code, n) = try UVarint.decode(bytes) else { throw .truncated("multiaddr protocol code") }
        guard let name = name(of: code) else { throw .invalid("multiaddr protocol code \(code) not supported") }
        var rest = bytes.dropFirst(n)
        func take(_ count: Int) throws(DecodeError) -> ArraySlice<UInt8> {
            guard rest.count >= count else { throw .truncated("multiaddr /\(name) value") }
            defer { rest = rest.dropFirst(count) }
            return rest.prefix(count)
        }
        func takePrefixed(cap: Int) throws(DecodeError) -> ArraySlice<UInt8> {
            guard let (len, m) = try UVarint.decode(rest) else { throw .truncated("multiaddr /\(name) length") }
            guard len <= UInt64(cap) else { throw .tooLarge(what: "multiaddr /\(name) value", size: len, cap: cap) }
            rest = rest.dropFirst(m)
            return try take(Int(len))
        }
        let component: MultiaddrComponent
        switch code {
        case Code.ip4: component = .ip4(IPAddress(bytes: try take(4))!)
        case Code.ip6: component = .ip6(IPAddress(bytes: try take(16))!)
        case Code.tcp, Code.udp:
            let p = try take(2)
            let port = UInt16(p[p.startIndex]) << 8 | UInt16(p[p.startIndex + 1])
            component = code == Code.tcp ? .tcp(port) : .udp(port)
        case Code.dns, Code.dns4, Code.dns6, Code.dnsaddr:
            let raw = try takePrefixed(cap: maxDNSNameLength)
            guard let s = String(validating: raw, as: UTF8.self) else { throw .invalid("multiaddr /\(name) name is not UTF-8") }
            component = try dnsComponent(code: code, name: s)
        case Code.p2p:
            let raw = try takePrefixed(cap: PeerID.maxLength)
            do { component = .p2p(try PeerID(bytes: raw)) } catch { throw .invalid("multiaddr /p2p: \(error)") }
        case Code.p2pCircuit: component = .p2pCircuit
        case Code.quicV1: component = .quicV1
        case Code.tls: component = .tls
        case Code.noise: component = .noise
        case Code.ws: component = .ws
        case Code.wss: component = .wss
        default: preconditionFailure("name(of:) and decode disagree on code \(code)")
        }
        return (component, bytes.count - rest.count)
    }

    // MARK: text

    /// Builds a component from its text name and value (nil for valueless protocols).
    static func parse(code: UInt64, value: Substring?) throws(DecodeError) -> MultiaddrComponent {
        let name = name(of: code)!
        func bad(_ why: String) -> DecodeError {
            // Quote at most 64 characters of the value: errors end up in logs.
            let v = value ?? ""
            return .invalid("multiaddr /\(name)/\(v.prefix(64))\(v.count > 64 ? "…" : ""): \(why)")
        }
        switch code {
        case Code.ip4:
            guard let a = IPAddress(ipv4: value!) else { throw bad("not an IPv4 address") }
            return .ip4(a)
        case Code.ip6:
            guard let a = IPAddress(ipv6: value!) else { throw bad("not an IPv6 address") }
            return .ip6(a)
        case Code.tcp, Code.udp:
            // Decimal digits only: no sign, no spaces, at most 5 digits, at most 65535.
            guard let v = value, !v.isEmpty, v.count <= 5, v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let port = UInt16(v) else { throw bad("not a port number") }
            return code == Code.tcp ? .tcp(port) : .udp(port)
        case Code.dns, Code.dns4, Code.dns6, Code.dnsaddr:
            do { return try dnsComponent(code: code, name: String(value!)) } catch { throw bad("\(error)") }
        case Code.p2p:
            do { return .p2p(try PeerID(String(value!))) } catch { throw bad("\(error)") }
        case Code.p2pCircuit: return .p2pCircuit
        case Code.quicV1: return .quicV1
        case Code.tls: return .tls
        case Code.noise: return .noise
        case Code.ws: return .ws
        case Code.wss: return .wss
        default: preconditionFailure("code(ofName:) and parse disagree on code \(code)")
        }
    }

    private static func dnsComponent(code: UInt64, name: String) throws(DecodeError) -> MultiaddrComponent {
        let count = name.utf8.count
        guard count >= 1 else { throw .invalid("empty DNS name") }
        guard count <= maxDNSNameLength else { throw .tooLarge(what: "DNS name", size: UInt64(count), cap: maxDNSNameLength) }
        // A '/' cannot round trip through the text form; a NUL has no place in a host name.
        guard !name.utf8.contains(0x2f), !name.utf8.contains(0) else { throw .invalid("DNS name contains '/' or NUL") }
        switch code {
        case Code.dns: return .dns(name)
        case Code.dns4: return .dns4(name)
        case Code.dns6: return .dns6(name)
        default: return .dnsaddr(name)
        }
    }
}
