import AirlockCore

/// Reads one proxy request head (request line, header fields, empty line) from a client's bytes,
/// sans I/O, in any split.
///
/// `decode(from:)` returns `nil` while the head is incomplete (consuming nothing), the request
/// once it is whole (consuming exactly the head: what follows, a body or tunnel bytes, stays in
/// the buffer), or throws `HTTPProxyError` (answer 400 and close). It remembers how far it has
/// looked, so feeding a head one byte at a time costs linear time.
///
/// Hostile input is bounded: the head may not exceed `maxHeadBytes`, nor hold more than
/// `maxHeaderCount` fields. Syntax is strict where leniency would let a request mean two things
/// (RFC 9112): one space between the request line's parts, header names are tokens with no
/// space before the colon, no line folding (obs-fold), no control bytes or bare CR. Lines may
/// end in CRLF or, as RFC 9112 §2.2 allows, a bare LF. Not thread-safe; one per connection.
public struct HTTPProxyRequestDecoder: Sendable {
    /// Cap on the whole head, empty line included.
    public static let maxHeadBytes = 16 * 1024
    /// Cap on header fields.
    public static let maxHeaderCount = 100
    /// Cap on the method's length (the longest registered methods are under 20 characters).
    static let maxMethodLength = 32

    /// Readable bytes already searched for the end of the head without finding it.
    private var scanned = 0

    public init() {}

    public mutating func decode(from buffer: inout ByteBuffer) throws(HTTPProxyError) -> HTTPProxyRequest? {
        let view = buffer.readableView
        guard let headLength = findEnd(view) else {
            if view.count >= Self.maxHeadBytes {
                throw HTTPProxyError("request head exceeds \(Self.maxHeadBytes) bytes")
            }
            return nil
        }
        guard headLength <= Self.maxHeadBytes else {
            throw HTTPProxyError("request head exceeds \(Self.maxHeadBytes) bytes")
        }
        let head = view.prefix(headLength)
        let request = try Self.parse(head)
        buffer.skip(headLength)
        scanned = 0
        return request
    }

    /// The length of the head including its final empty line, if the view holds it all.
    /// The end is an LF followed by LF or by CR LF.
    private mutating func findEnd(_ view: ArraySlice<UInt8>) -> Int? {
        let base = view.startIndex
        let limit = min(view.count, Self.maxHeadBytes + 2)
        var i = max(0, scanned - 2)
        while i < limit {
            if view[base + i] == 0x0A {
                if i + 1 < view.count, view[base + i + 1] == 0x0A { return i + 2 }
                if i + 2 < view.count, view[base + i + 1] == 0x0D, view[base + i + 2] == 0x0A { return i + 3 }
            }
            i += 1
        }
        scanned = limit
        return nil
    }

    /// Parses a complete head (ending with its empty line).
    static func parse(_ head: ArraySlice<UInt8>) throws(HTTPProxyError) -> HTTPProxyRequest {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        for i in head.indices where head[i] == 0x0A {
            var line = head[start..<i]
            if line.last == 0x0D { line = line.dropLast() }
            lines.append(line)
            start = i + 1
            guard lines.count <= maxHeaderCount + 2 else { throw HTTPProxyError("more than \(maxHeaderCount) header fields") }
        }
        // The last line is the empty one that ends the head.
        guard let requestLine = lines.first, lines.count >= 2, lines.last!.isEmpty else {
            throw HTTPProxyError("incomplete request head")
        }
        let (method, target, version) = try parseRequestLine(requestLine)
        var headers: [(name: String, value: ArraySlice<UInt8>)] = []
        headers.reserveCapacity(lines.count - 2)
        for line in lines.dropFirst().dropLast() {
            headers.append(try parseField(line))
        }
        return try HTTPProxyRequest.make(method: method, target: target, version: version, headers: headers)
    }

    /// `method SP request-target SP HTTP-version` (RFC 9112 §3).
    private static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPProxyError) -> (String, Substring, String) {
        guard !line.isEmpty else { throw HTTPProxyError("empty request line") }
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw HTTPProxyError("request line must be: method target version") }
        let (m, t, v) = (parts[0], parts[1], parts[2])
        guard !m.isEmpty, m.count <= maxMethodLength, m.allSatisfy(isTokenByte) else {
            throw HTTPProxyError("bad method")
        }
        // Visible ASCII only: nothing that could end a line or smuggle a second request upstream.
        guard !t.isEmpty, t.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPProxyError("bad request target")
        }
        let version = String(decoding: v, as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw HTTPProxyError("unsupported HTTP version")
        }
        return (String(decoding: m, as: UTF8.self), Substring(String(decoding: t, as: UTF8.self)), version)
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9112 §5).
    private static func parseField(_ line: ArraySlice<UInt8>) throws(HTTPProxyError) -> (name: String, value: ArraySlice<UInt8>) {
        if let first = line.first, first == 0x20 || first == 0x09 {
            throw HTTPProxyError("obsolete line folding is not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPProxyError("header line without a colon")
        }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw HTTPProxyError("bad header name")
        }
        let value = HTTPProxyRequest.trimmingSpaces(line[(colon + 1)...])
        // Field values: visible bytes, spaces, tabs and obs-text; no CR, LF, NUL or other controls.
        guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else {
            throw HTTPProxyError("control byte in header value")
        }
        return (String(decoding: name, as: UTF8.self), value)
    }

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}
