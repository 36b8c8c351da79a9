import Testing
import AirlockCore
@testable import AirlockAgent

@Suite struct HTTPProxyRequestDecoderTests {
    typealias Decoded = (request: HTTPProxyRequest?, error: HTTPProxyError?, left: [UInt8])

    static func whole(_ bytes: [UInt8]) -> Decoded {
        var d = HTTPProxyRequestDecoder()
        var buffer = ByteBuffer(bytes)
        do {
            let r = try d.decode(from: &buffer)
            return (r, nil, buffer.readAll())
        } catch {
            return (nil, error, buffer.readAll())
        }
    }

    static func dripped(_ bytes: [UInt8]) -> Decoded {
        var d = HTTPProxyRequestDecoder()
        var buffer = ByteBuffer()
        for (i, b) in bytes.enumerated() {
            buffer.write(b)
            do {
                if let r = try d.decode(from: &buffer) { return (r, nil, buffer.readAll() + bytes[(i + 1)...]) }
            } catch {
                return (nil, error, buffer.readAll() + bytes[(i + 1)...])
            }
        }
        return (nil, nil, buffer.readAll())
    }

    /// Decodes whole and drip-fed and checks they agree.
    static func both(_ text: String, tail: [UInt8] = []) -> Decoded {
        let bytes = Array(text.utf8) + tail
        let a = whole(bytes), b = dripped(bytes)
        #expect(a.request == b.request)
        #expect(a.error == b.error)
        #expect(a.left == b.left)
        return a
    }

    static func upstream(_ r: Decoded) -> String { String(decoding: r.request?.upstreamHead ?? [], as: UTF8.self) }

    // MARK: CONNECT

    @Test func connectWithLeftoverTunnelBytes() throws {
        let r = Self.both("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\nProxy-Connection: keep-alive\r\n\r\n", tail: [0x16, 0x03, 0x01])
        let req = try #require(r.request)
        #expect(req.kind == .connect)
        #expect(req.method == "CONNECT")
        #expect(req.target == ProxyTarget(host: "api.example.com", port: 443))
        #expect(req.upstreamHead.isEmpty)
        #expect(r.left == [0x16, 0x03, 0x01])
    }

    @Test func connectToIPv6AndWithBareLF() throws {
        let r = Self.both("CONNECT [2001:db8::1]:8443 HTTP/1.0\n\n")
        #expect(r.request?.target == ProxyTarget(host: "2001:db8::1", port: 8443))
        #expect(r.request?.version == "HTTP/1.0")
    }

    @Test(arguments: ["CONNECT example.com HTTP/1.1", "CONNECT example.com:0 HTTP/1.1", "CONNECT :443 HTTP/1.1",
                      "CONNECT http://example.com:443 HTTP/1.1", "CONNECT exa%6dple.com:443 HTTP/1.1"])
    func badConnectTargets(_ line: String) {
        #expect(Self.both(line + "\r\n\r\n").error != nil)
    }

    // MARK: forwarding

    @Test func absoluteURIIsRewrittenToOriginForm() throws {
        let r = Self.both("GET http://Web/path/x?q=1#frag HTTP/1.1\r\nHost: ignored\r\nUser-Agent: curl/8\r\n"
                          + "Proxy-Connection: Keep-Alive\r\nProxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n",
                          tail: Array("body".utf8))
        let req = try #require(r.request)
        #expect(req.kind == .forward)
        #expect(req.target == ProxyTarget(host: "web", port: 80))
        #expect(Self.upstream(r) == "GET /path/x?q=1 HTTP/1.1\r\nHost: web\r\nUser-Agent: curl/8\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        #expect(r.left == Array("body".utf8))
    }

    @Test func explicitPortAndEmptyPath() throws {
        let r = Self.both("POST http://127.0.0.1:11434 HTTP/1.1\r\nContent-Length: 4\r\n\r\n")
        #expect(r.request?.target == ProxyTarget(host: "127.0.0.1", port: 11434))
        #expect(Self.upstream(r) == "POST / HTTP/1.1\r\nHost: 127.0.0.1:11434\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
        let q = Self.both("GET HTTP://[::1]:8080?x HTTP/1.0\r\n\r\n")
        #expect(q.request?.target == ProxyTarget(host: "::1", port: 8080))
        #expect(Self.upstream(q) == "GET /?x HTTP/1.0\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n")
    }

    @Test func headersNamedByConnectionAreDropped() {
        let r = Self.both("GET http://web/ HTTP/1.1\r\nConnection: keep-alive, X-Hop ,x-other\r\nX-Hop: 1\r\nX-Other: 2\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Keep: 3\r\n\r\n")
        #expect(Self.upstream(r) == "GET / HTTP/1.1\r\nHost: web\r\nX-Keep: 3\r\nConnection: close\r\n\r\n")
    }

    @Test func headerValuesKeepTheirBytes() throws {
        // obs-text (bytes over 0x7F, not valid UTF-8) passes through untouched.
        let head = Array("GET http://web/ HTTP/1.1\r\nX-Raw: a".utf8) + [0xFF, 0xFE] + Array("b\r\n\r\n".utf8)
        let r = Self.whole(head)
        let up = try #require(r.request?.upstreamHead)
        #expect(up.count == Array("GET / HTTP/1.1\r\nHost: web\r\nX-Raw: a".utf8).count + 2 + Array("b\r\nConnection: close\r\n\r\n".utf8).count)
        #expect(up.contains(0xFF) && up.contains(0xFE))
    }

    @Test func httpsAndOriginFormAreRefused() {
        #expect(Self.both("GET https://web/ HTTP/1.1\r\n\r\n").error?.reason.contains("CONNECT") == true)
        #expect(Self.both("GET / HTTP/1.1\r\nHost: web\r\n\r\n").error?.reason.contains("origin-form") == true)
        #expect(Self.both("GET ftp://web/ HTTP/1.1\r\n\r\n").error != nil)
        #expect(Self.both("GET http://user:pw@web/ HTTP/1.1\r\n\r\n").error != nil)
        #expect(Self.both("GET http:/// HTTP/1.1\r\n\r\n").error != nil)
    }

    // MARK: hostile input

    @Test(arguments: [
        "GET  http://web/ HTTP/1.1",        // two spaces
        "GET http://web/ HTTP/1.1 ",       // trailing space
        "GET http://web/ HTTP/2.0",
        "GET http://web/ http/1.1",
        "G(T http://web/ HTTP/1.1",
        "GET http://web/\u{7f} HTTP/1.1",
        "GET http://we\rb/ HTTP/1.1",
        "GET",
        "",
    ])
    func badRequestLines(_ line: String) {
        #expect(Self.both(line + "\r\nX: y\r\n\r\n").error != nil)
    }

    @Test(arguments: [
        "Host : web",          // space before colon (RFC 9112 §5.1)
        " folded",             // obs-fold
        "\tfolded",
        "NoColon",
        ": empty-name",
        "X-Bad\u{1}: v",
        "X: a\u{0}b",
        "X: a\rb",
        "X: a\u{7f}",
    ])
    func badHeaderLines(_ field: String) {
        #expect(Self.both("GET http://web/ HTTP/1.1\r\nA: b\r\n" + field + "\r\n\r\n").error != nil)
    }

    @Test func headOverTheCapIsRefused() {
        let big = "GET http://web/ HTTP/1.1\r\nX: " + String(repeating: "a", count: HTTPProxyRequestDecoder.maxHeadBytes) + "\r\n\r\n"
        let r = Self.whole(Array(big.utf8))
        #expect(r.error?.reason.contains("exceeds") == true)
        // Without an end at all, the decoder gives up at the cap instead of buffering on.
        let endless = Array(repeating: UInt8(ascii: "a"), count: HTTPProxyRequestDecoder.maxHeadBytes)
        #expect(Self.whole(endless).error != nil)
        #expect(Self.whole(Array(endless.dropLast())).error == nil)
        #expect(Self.dripped(endless).error != nil)
    }

    @Test func headJustUnderTheCapIsAccepted() {
        let prefix = "GET http://web/ HTTP/1.1\r\nX: "
        let fill = HTTPProxyRequestDecoder.maxHeadBytes - prefix.utf8.count - 4
        let head = prefix + String(repeating: "a", count: fill) + "\r\n\r\n"
        #expect(head.utf8.count == HTTPProxyRequestDecoder.maxHeadBytes)
        #expect(Self.whole(Array(head.utf8)).request != nil)
    }

    @Test func headerCountIsCapped() {
        let fields = { (n: Int) in (0..<n).map { "X-\($0): v\r\n" }.joined() }
        #expect(Self.both("GET http://web/ HTTP/1.1\r\n" + fields(HTTPProxyRequestDecoder.maxHeaderCount) + "\r\n").request != nil)
        #expect(Self.both("GET http://web/ HTTP/1.1\r\n" + fields(HTTPProxyRequestDecoder.maxHeaderCount + 1) + "\r\n").error != nil)
    }

    @Test func truncatedHeadWaits() {
        let full = "CONNECT web:443 HTTP/1.1\r\nHost: web\r\n\r\n"
        for n in 0..<full.utf8.count {
            let r = Self.whole(Array(full.utf8.prefix(n)))
            #expect(r.request == nil && r.error == nil, "prefix \(n)")
        }
    }

    @Test func randomJunkNeverTraps() {
        var rng = ShimJunkGenerator(seed: 11)
        let alphabet = Array("GET CONNECT http://[]:/ \r\n\tHOST:a1.-%".utf8) + [0, 0x7f, 0xff]
        for _ in 0..<1000 {
            let n = Int(rng.next() % 80)
            let bytes = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let r = Self.whole(bytes + Array("\r\n\r\n".utf8))
            let d = Self.dripped(bytes + Array("\r\n\r\n".utf8))
            #expect(r.request == d.request && r.error == d.error)
        }
    }
}
