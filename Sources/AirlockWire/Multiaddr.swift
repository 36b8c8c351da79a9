import AirlockCore

/// A multiaddr: a list of components, with a binary form (`uvarint(code) || value` per component,
/// wire.md §5.8) and a text form (`/ip4/127.0.0.1/tcp/4001/p2p/12D3…`).
///
/// Decoding (binary and text) is for peer input: it never traps, caps the total length
/// (`maxBinaryLength`, `maxTextLength`) and each DNS name (255 bytes), and every error names the
/// component at fault. Addresses built in code are not capped.
public struct Multiaddr: Hashable, Sendable, CustomStringConvertible {
    /// Longest binary multiaddr accepted from a peer (go-multiaddr uses the same order of magnitude).
    public static let maxBinaryLength = 1024
    /// Longest text multiaddr accepted (base58 peer IDs make text longer than binary).
    public static let maxTextLength = 2048

    public private(set) var components: [MultiaddrComponent]

    public init(_ components: [MultiaddrComponent]) { self.components = components }

    /// `/ip4/a.b.c.d/tcp/port`.
    public init(ip4: (UInt8, UInt8, UInt8, UInt8), port: UInt16) {
        components = [.ip4(IPAddress(ipv4: ip4.0, ip4.1, ip4.2, ip4.3)), .tcp(port)]
    }

    /// `/ip4/…/tcp/port` or `/ip6/…/tcp/port`, after the address family.
    public init(ip: IPAddress, tcpPort: UInt16) {
        components = [ip.isIPv4 ? .ip4(ip) : .ip6(ip), .tcp(tcpPort)]
    }

    // MARK: binary

    /// Decodes a complete binary multiaddr. An empty input is an error: no peer sends one meaningfully.
    public init<C: Collection>(bytes: C) throws(DecodeError) where C.Element == UInt8 {
        guard bytes.count <= Multiaddr.maxBinaryLength else {
            throw .tooLarge(what: "multiaddr", size: UInt64(bytes.count), cap: Multiaddr.maxBinaryLength)
        }
        guard !bytes.isEmpty else { throw .truncated("multiaddr (empty)") }
        let raw = Array(bytes)
        var rest = raw[...]
        var parsed: [MultiaddrComponent] = []
        while !rest.isEmpty {
            let (c, n) = try MultiaddrComponent.decode(rest)
            parsed.append(c)
            rest = rest.dropFirst(n)
        }
        components = parsed
    }

    /// The binary form.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(components.count * 8)
        for c in components { c.encode(into: &out) }
        return out
    }

    // MARK: text

    /// Parses the text form. A single trailing `/` is tolerated (as go-multiaddr does).
    public init(_ text: String) throws(DecodeError) {
        let count = text.utf8.count
        guard count <= Multiaddr.maxTextLength else {
            throw .tooLarge(what: "multiaddr text", size: UInt64(count), cap: Multiaddr.maxTextLength)
        }
        guard text.hasPrefix("/"), count > 1 else { throw .invalid("multiaddr \"\(text)\" must start with /") }
        var parts = text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        if parts.last?.isEmpty == true { parts = parts.dropLast() }
        var parsed: [MultiaddrComponent] = []
        var i = parts.startIndex
        while i < parts.endIndex {
            let name = Substring(parts[i])
            guard !name.isEmpty else { throw .invalid("multiaddr \"\(text)\" has an empty component") }
            guard let code = MultiaddrComponent.code(ofName: name) else {
                throw .invalid("multiaddr component /\(name.prefix(64)) is not a supported protocol")
            }
            i += 1
            var value: Substring?
            if MultiaddrComponent.hasValue(code) {
                guard i < parts.endIndex else { throw .truncated("multiaddr /\(name) value") }
                value = Substring(parts[i])
                i += 1
            }
            parsed.append(try MultiaddrComponent.parse(code: code, value: value))
        }
        components = parsed
    }

    public var description: String { components.map(\.description).joined() }

    // MARK: building

    public mutating func append(_ component: MultiaddrComponent) { components.append(component) }

    public func appending(_ component: MultiaddrComponent) -> Multiaddr {
        var copy = self
        copy.append(component)
        return copy
    }

    /// `self` followed by `other`'s components (multiaddr encapsulation).
    public func appending(_ other: Multiaddr) -> Multiaddr { Multiaddr(components + other.components) }

    // MARK: queries

    /// The IP and port when the address is exactly ip4|ip6 + tcp, optionally followed by one
    /// `/p2p/…` naming the peer there. Anything else (dns, ws, circuits) gives nil; for a circuit,
    /// ask `circuit?.relay.tcpEndpoint`.
    public var tcpEndpoint: (ip: IPAddress, port: UInt16)? {
        guard components.count == 2 || (components.count == 3 && components[2].isP2P) else { return nil }
        guard case .tcp(let port) = components[1] else { return nil }
        switch components[0] {
        case .ip4(let ip), .ip6(let ip): return (ip, port)
        default: return nil
        }
    }

    /// The peer ID of the last `/p2p` component: the target for a circuit address.
    public var peerID: PeerID? {
        for c in components.reversed() { if case .p2p(let id) = c { return id } }
        return nil
    }

    public var isCircuit: Bool { components.contains(.p2pCircuit) }

    /// Splits a circuit address at its first `/p2p-circuit` (wire.md §5.8): `relay` is everything
    /// before it (normally ending in `/p2p/<relayID>`), `target` is the final `/p2p/<id>` after the
    /// last `/p2p-circuit`, nil when the address ends in `/p2p-circuit` (a listener's own address).
    /// Components between those are relay hints and are ignored. nil when there is no `/p2p-circuit`.
    public var circuit: (relay: Multiaddr, target: PeerID?)? {
        guard let first = components.firstIndex(of: .p2pCircuit) else { return nil }
        let last = components.lastIndex(of: .p2pCircuit)!
        var target: PeerID?
        if last + 1 < components.count, case .p2p(let id) = components[components.count - 1] { target = id }
        return (Multiaddr(Array(components[..<first])), target)
    }

    /// The address without trailing `/p2p/…` components (tolerates a doubled `/p2p`, wire.md §9 P4).
    public var withoutTrailingPeerID: Multiaddr {
        var copy = self
        while copy.components.last?.isP2P == true { copy.components.removeLast() }
        return copy
    }

}

extension MultiaddrComponent {
    var isP2P: Bool { if case .p2p = self { return true } else { return false } }
}
