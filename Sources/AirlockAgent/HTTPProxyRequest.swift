/// A request an agent made to the shim's HTTP proxy (RFC 9112 message syntax, RFC 9110 §9.3.6
/// CONNECT), parsed from its head by `HTTPProxyRequestDecoder`.
///
/// Two kinds are served:
/// * `CONNECT host:port` opens a tunnel; the head is consumed and nothing of it goes upstream.
/// * A request with an absolute `http://` URI is forwarded: `upstreamHead` is the same request
///   in origin form (`GET /path HTTP/1.1`) to send to the target before any body bytes.
///
/// The rewrite, for `upstreamHead`:
/// * `Host` is set from the URI's authority (RFC 9112 §3.2.2: the URI wins over a Host header);
/// * hop-by-hop headers are dropped: `Connection`, `Keep-Alive`, `Proxy-Connection`,
///   `Proxy-Authorization`, `Proxy-Authenticate`, `TE`, `Trailer`, `Upgrade`, and every header
///   the request's `Connection` header names (RFC 9110 §7.6.1);
/// * `Connection: close` is added. The whole client connection becomes one tunnel to this one
///   target after the head, so a second request on it could not be routed elsewhere; closing
///   after one exchange keeps that simple and correct, at the cost of keep-alive.
/// Everything else is kept byte for byte, in order.
public struct HTTPProxyRequest: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case connect
        case forward
    }

    public let kind: Kind
    /// The method as sent (`CONNECT`, `GET`, …).
    public let method: String
    /// `HTTP/1.1` or `HTTP/1.0`.
    public let version: String
    public let target: ProxyTarget
    /// For `.forward`: the rewritten head, ending with the empty line. Empty for `.connect`.
    public let upstreamHead: [UInt8]

    /// Headers that concern only this hop (RFC 9110 §7.6.1), lowercase. `Host` is rewritten
    /// separately.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
        "te", "trailer", "upgrade", "host",
    ]

    init(kind: Kind, method: String, version: String, target: ProxyTarget, upstreamHead: [UInt8]) {
        self.kind = kind
        self.method = method
        self.version = version
        self.target = target
        self.upstreamHead = upstreamHead
    }

    /// Builds a request from a parsed head: the request line's parts (checked visible ASCII) and
    /// the header fields (names are checked tokens; values raw bytes, kept as sent).
    static func make(method: String, target rawTarget: Substring, version: String,
                     headers: [(name: String, value: ArraySlice<UInt8>)]) throws(HTTPProxyError) -> HTTPProxyRequest {
        if method == "CONNECT" {
            guard let target = ProxyTarget(authority: rawTarget) else {
                throw HTTPProxyError("CONNECT needs host:port, got \(excerpt(rawTarget))")
            }
            return HTTPProxyRequest(kind: .connect, method: method, version: version, target: target, upstreamHead: [])
        }
        let (target, hostHeader, path) = try parseAbsoluteURI(rawTarget)
        var dropped = hopByHop
        for h in headers where h.name.lowercased() == "connection" {
            for token in h.value.split(separator: UInt8(ascii: ",")) {
                dropped.insert(String(decoding: trimmingSpaces(token), as: UTF8.self).lowercased())
            }
        }
        var head: [UInt8] = []
        head.reserveCapacity(256 + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.count + 4 })
        head += "\(method) \(path) \(version)\r\nHost: \(hostHeader)\r\n".utf8
        for h in headers where !dropped.contains(h.name.lowercased()) {
            head += h.name.utf8
            head += ": ".utf8
            head += h.value
            head += "\r\n".utf8
        }
        head += "Connection: close\r\n\r\n".utf8
        return HTTPProxyRequest(kind: .forward, method: method, version: version, target: target, upstreamHead: head)
    }

    /// `http://authority[/path][?query][#fragment]` → the target, the Host header value and the
    /// origin-form target (fragment dropped, `/` when the path is empty).
    private static func parseAbsoluteURI(_ uri: Substring) throws(HTTPProxyError) -> (ProxyTarget, String, String) {
        let lower = uri.prefix(8).lowercased()
        if lower.hasPrefix("https://") {
            throw HTTPProxyError("https:// URIs must use CONNECT")
        }
        guard lower.hasPrefix("http://") else {
            if uri.hasPrefix("/") || uri == "*" { throw HTTPProxyError("not a proxy request: origin-form target") }
            throw HTTPProxyError("unsupported request target \(excerpt(uri))")
        }
        let rest = uri.dropFirst(7)
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.contains("@") else { throw HTTPProxyError("user information in URI is not allowed") }
        guard let target = ProxyTarget(authority: authority, defaultPort: 80) else {
            throw HTTPProxyError("bad host in URI \(excerpt(uri))")
        }
        var path = rest[authorityEnd...]
        if let hash = path.firstIndex(of: "#") { path = path[..<hash] }
        let origin = path.hasPrefix("/") ? String(path) : "/" + path
        let explicitPort = authority.hasPrefix("[") ? authority.contains("]:") : authority.contains(":")
        let bracketed = target.host.contains(":") ? "[\(target.host)]" : target.host
        let hostHeader = explicitPort ? "\(bracketed):\(target.port)" : bracketed
        return (target, hostHeader, origin)
    }

    /// A short, printable excerpt of client text for an error reason.
    static func excerpt(_ text: Substring) -> String {
        let clean = text.prefix(64).unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : "?" }
        return "\"" + String(clean) + (text.count > 64 ? "…" : "") + "\""
    }

    /// Without leading and trailing spaces and tabs (HTTP's OWS).
    static func trimmingSpaces(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }
}
