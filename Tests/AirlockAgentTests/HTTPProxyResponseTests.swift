import Testing
@testable import AirlockAgent

@Suite struct HTTPProxyResponseTests {
    static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    @Test func connectionEstablished() {
        #expect(Self.text(HTTPProxyResponse.connectionEstablished) == "HTTP/1.1 200 Connection established\r\n\r\n")
    }

    @Test func forbiddenNamesTheReasonInHeaderAndBody() throws {
        let t = Self.text(HTTPProxyResponse.forbidden(reason: "no rule allows agent a to api.example.com:443"))
        #expect(t.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        #expect(t.contains("\r\nX-Airlock-Reason: no rule allows agent a to api.example.com:443\r\n"))
        #expect(t.contains("\r\nConnection: close\r\n"))
        let parts = t.split(separator: "\r\n\r\n", omittingEmptySubsequences: false)
        #expect(parts.count == 2)
        let body = parts[1]
        #expect(body.contains("no rule allows agent a to api.example.com:443"))
        #expect(t.contains("Content-Length: \(body.utf8.count)\r\n"))
    }

    @Test func otherStatuses() {
        #expect(Self.text(HTTPProxyResponse.badRequest(reason: "x")).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(Self.text(HTTPProxyResponse.badGateway(reason: "refused")).hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        #expect(Self.text(HTTPProxyResponse.gatewayTimeout(reason: "slow")).hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"))
    }

    @Test func reasonsCannotInjectHeaders() {
        let t = Self.text(HTTPProxyResponse.forbidden(reason: "a\r\nSet-Cookie: x=1\u{0}é"))
        #expect(t.contains("X-Airlock-Reason: a??Set-Cookie: x=1??\r\n"))
        #expect(!t.contains("\r\nSet-Cookie"))
        let long = Self.text(HTTPProxyResponse.forbidden(reason: String(repeating: "z", count: 1000)))
        #expect(long.contains("X-Airlock-Reason: " + String(repeating: "z", count: HTTPProxyResponse.maxReasonLength) + "\r\n"))
        #expect(Self.text(HTTPProxyResponse.forbidden(reason: "")).contains("X-Airlock-Reason: unspecified\r\n"))
    }
}
