import Foundation
import Testing
import AirlockCore
@testable import AirlockAgent

/// The shim sends targets that are not services to the agent's exits, as names (nothing is
/// resolved inside), and says why an exit refused: real curl through the shim's HTTP and SOCKS
/// proxies, a relay with its own exit or an exit peer (`ExitLab`).
@Suite(.serialized) struct ShimExitTests {
    static let body = "outside, through the exit\n"

    func withLab(exitPeer: Bool = false, destinations: @escaping (UInt16) -> [String],
                 _ body: (ExitLab, UInt16) async throws -> Void) async throws {
        let lab = try ExitLab()
        do {
            let (_, port) = try await lab.server(body: Self.body)
            lab.resolver.set("app.test", ["127.0.0.1"])
            try await lab.start(policy: lab.policy(destinations(port), exitPeer: exitPeer), exitPeer: exitPeer)
            try await lab.startShim(exits: [ShimConfig.Exit(name: "out", peer: exitPeer ? lab.peer("exitpeer") : nil)])
            try await body(lab, port)
        } catch {
            await lab.shutdown()
            throw error
        }
        await lab.shutdown()
    }

    @Test func curlReachesAnAllowedNameThroughTheRelaysExit() async throws {
        try await withLab(destinations: { ["app.test:\($0)", "127.0.0.1:\($0)"] }) { lab, port in
            let http = try await lab.viaHTTP("http://app.test:\(port)/")
            #expect(http.status == 0 && http.stdout == Self.body, "\(http)")
            let socks = try await lab.viaSOCKS("http://app.test:\(port)/")
            #expect(socks.status == 0 && socks.stdout == Self.body, "\(socks)")
            // The name reached the exit as a name: the exit looked it up.
            #expect(lab.resolver.lookups("app.test") == 2)
        }
    }

    @Test func refusalsSayWhy() async throws {
        try await withLab(destinations: { ["app.test:\($0)", "*.blocked.test:\($0)"] }) { lab, port in
            lab.resolver.set("x.blocked.test", ["10.1.2.3"])
            let denied = try await lab.viaHTTP("http://other.test:\(port)/", ["-i"])
            #expect(denied.stdout.hasPrefix("HTTP/1.1 403") && denied.stdout.contains("X-Airlock-Reason: denied-by-policy"), "\(denied)")
            let loopback = try await lab.viaHTTP("http://app.test:\(port)/", ["-i"])
            #expect(loopback.stdout.hasPrefix("HTTP/1.1 403") && loopback.stdout.contains("X-Airlock-Reason: blocked-address"), "\(loopback)")
            let privateAddress = try await lab.viaHTTP("http://x.blocked.test:\(port)/", ["-i"])
            #expect(privateAddress.stdout.contains("X-Airlock-Reason: blocked-address"), "\(privateAddress)")
            let socks = try await lab.viaSOCKS("http://other.test:\(port)/")
            #expect(socks.status != 0, "\(socks)")
            #expect(!lab.logs.lines("shim_refused", "reason=denied-by-policy", "no-destination").isEmpty)
        }
    }

    @Test func curlReachesAnAllowedNameThroughAnExitPeer() async throws {
        try await withLab(exitPeer: true, destinations: { ["app.test:\($0)", "127.0.0.1:\($0)"] }) { lab, port in
            let http = try await lab.viaHTTP("http://app.test:\(port)/")
            #expect(http.status == 0 && http.stdout == Self.body, "\(http)")
            let again = try await lab.viaHTTP("http://app.test:\(port)/")
            #expect(again.stdout == Self.body)
            let denied = try await lab.viaHTTP("http://app.test:\(port &+ 1)/", ["-i"])
            #expect(denied.stdout.contains("X-Airlock-Reason: denied-by-policy"), "\(denied)")
        }
    }
}
