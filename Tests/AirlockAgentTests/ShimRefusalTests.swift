import Testing
import AirlockRelay
import AirlockWire
@testable import AirlockAgent

@Suite struct ShimRefusalTests {
    func head(_ r: ShimRefusal) -> String {
        let text = String(decoding: r.httpResponse, as: UTF8.self)
        return String(text[..<text.range(of: "\r\n\r\n")!.lowerBound])
    }

    @Test func policyAndNameRefusalsAre403AndSocksNotAllowed() {
        for (kind, token) in [(ShimRefusal.Kind.unknownService, "unknown-service"), (.deniedByPolicy, "denied-by-policy")] {
            let r = ShimRefusal(kind, "detail with peer 12D3KooW… and \r\n junk")
            #expect(r.reason == token)
            #expect(head(r).hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
            // Only the token goes to the agent; the detail stays in the log.
            #expect(head(r).contains("\r\nX-Airlock-Reason: \(token)\r\n"))
            #expect(!String(decoding: r.httpResponse, as: UTF8.self).contains("detail"))
            #expect(r.socksReply == .notAllowed)
        }
    }

    @Test func otherFailuresAre502WithTheirSocksCodes() {
        let cases: [(ShimRefusal.Kind, String, Socks5Reply)] = [
            (.serviceOffline, "service-offline", .hostUnreachable),
            (.relayUnavailable, "relay-unavailable", .hostUnreachable),
            (.circuitFailed, "circuit-failed", .hostUnreachable),
            (.streamRefused, "stream-refused", .connectionRefused),
            (.overloaded, "overloaded", .generalFailure),
        ]
        for (kind, token, socks) in cases {
            let r = ShimRefusal(kind, "x")
            #expect(r.reason == token)
            #expect(head(r).hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
            #expect(head(r).contains("\r\nX-Airlock-Reason: \(token)\r\n"))
            #expect(r.socksReply == socks)
        }
    }

    @Test func relayStatusesMapToKinds() {
        #expect(ShimRefusal.circuit(RelayClientError(status: .permissionDenied, "no")).kind == .deniedByPolicy)
        #expect(ShimRefusal.circuit(RelayClientError(status: .noReservation, "no")).kind == .serviceOffline)
        #expect(ShimRefusal.circuit(RelayClientError(status: .connectionFailed, "no")).kind == .circuitFailed)
        #expect(ShimRefusal.circuit(RelayClientError(status: .resourceLimitExceeded, "no")).kind == .circuitFailed)
        #expect(ShimRefusal.circuit(RelayClientError("timeout")).kind == .circuitFailed)
        #expect(ShimRefusal.circuit(RelayClientError(status: .permissionDenied, "no")).detail.contains("PERMISSION_DENIED"))
    }
}
