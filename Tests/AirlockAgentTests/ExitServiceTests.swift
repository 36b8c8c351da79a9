import Foundation
import Synchronization
import Testing
import AirlockCore
import AirlockPolicy
import AirlockWire
@testable import AirlockAgent

/// Exits end to end in one process (`ExitLab`): the policy decides before any lookup, names
/// resolve only in the exit, blocked addresses need a rule naming them, and the exit connects
/// to exactly the address it checked. Destinations are servers on 127.0.0.0/8 named through the
/// lab's scripted resolver; every dial goes through a loopback-only guard.
@Suite(.serialized) struct ExitServiceTests {
    static let body = "hello through the exit\n"

    func withLab(_ body: (ExitLab) async throws -> Void) async throws {
        let lab = try ExitLab()
        do { try await body(lab) } catch {
            await lab.shutdown()
            throw error
        }
        await lab.shutdown()
    }

    @Test func thePortIsPartOfEveryRule() async throws {
        try await withLab { lab in
            let (_, port) = try await lab.server(body: Self.body)
            lab.resolver.set("app.test", ["127.0.0.1"])
            try await lab.start(policy: lab.policy(["app.test:\(port)", "127.0.0.1:\(port)"]))
            let ok = try await lab.ask("app.test", port)
            #expect(ok.status == .ok, "\(ok)")
            #expect(ok.response?.address == IPAddress("127.0.0.1"))
            #expect(ok.body == Self.body)
            let other = try await lab.ask("app.test", port &+ 1)
            #expect(other.status == .denied && other.reason == "no-destination", "\(other)")
            // Denied before any lookup: the name was resolved once, for the allowed request.
            #expect(lab.resolver.lookups("app.test") == 1)
        }
    }

    @Test func aSubdomainPatternMatchesSubdomainsOnly() async throws {
        try await withLab { lab in
            let (_, port) = try await lab.server(body: Self.body)
            for n in ["a.example.test", "b.a.example.test", "example.test", "evilexample.test"] { lab.resolver.set(n, ["127.0.0.1"]) }
            try await lab.start(policy: lab.policy(["*.example.test:\(port)", "127.0.0.1:\(port)"]))
            #expect(try await lab.ask("a.example.test", port).status == .ok)
            #expect(try await lab.ask("B.A.Example.Test.", port).status == .ok)
            for n in ["example.test", "evilexample.test"] {
                let r = try await lab.ask(n, port)
                #expect(r.status == .denied && r.reason == "no-destination", "\(n): \(r)")
                #expect(lab.resolver.lookups(n) == 0, "\(n) was resolved before the policy allowed it")
            }
        }
    }

    @Test func aNameOnLoopbackIsRefusedUnlessARuleNamesTheAddress() async throws {
        try await withLab { lab in
            let (index, port) = try await lab.server(body: Self.body)
            lab.resolver.set("app.test", ["127.0.0.1"])
            try await lab.start(policy: lab.policy(["app.test:\(port)"]))
            let refused = try await lab.ask("app.test", port)
            #expect(refused.status == .blocked && refused.reason == "loopback", "\(refused)")
            #expect(refused.response?.address == IPAddress("127.0.0.1"))
            #expect(try await lab.accepted(index) == 0)
            // A rule for another loopback address does not name this one.
            try await lab.reload(lab.policy(["app.test:\(port)", "127.0.0.2:\(port)"]))
            #expect(try await lab.ask("app.test", port).status == .blocked)
            // A CIDR containing it does, as does the address itself.
            try await lab.reload(lab.policy(["app.test:\(port)", "127.0.0.0/8:\(port)"]))
            #expect(try await lab.ask("app.test", port).status == .ok)
            #expect(try await lab.accepted(index) == 1)
        }
    }

    /// One address inside each row of the blocklist (its first address after the network's, or
    /// the address itself for a /32 or /128), resolved from a name the rule allows.
    static func sample(_ e: AddressBlocklist.Entry) -> IPAddress {
        var bytes = e.network.bytes
        if e.prefixLength < bytes.count * 8 { bytes[bytes.count - 1] |= 1 }
        return IPAddress(bytes: bytes)!
    }

    @Test func everyBlocklistEntryIsRefusedWhenOnlyANameAllowsIt() async throws {
        try await withLab { lab in
            let entries = AddressBlocklist.entries
            for (i, e) in entries.enumerated() { lab.resolver.set("b\(i).test", [Self.sample(e).description]) }
            try await lab.start(policy: lab.policy(["*.test:443"]))
            for (i, e) in entries.enumerated() {
                let sample = Self.sample(e)
                let r = try await lab.ask("b\(i).test", 443)
                #expect(r.status == .blocked, "\(sample) (\(e.token)): \(r)")
                #expect(r.reason == AddressBlocklist.blocked(sample)?.token, "\(sample): \(r)")
            }
            // And as literals, which match only address patterns: no rule, no dial.
            for e in entries {
                let r = try await lab.ask(Self.sample(e).description, 443)
                #expect(r.status == .denied && r.reason == "no-destination", "\(Self.sample(e)): \(r)")
            }
        }
    }

    /// Every odd spelling of 127.0.0.1 reaches the rule for 127.0.0.1, and only address rules.
    @Test(arguments: ["127.1", "2130706433", "0x7f.1", "0x7f000001", "017700000001", "0x7f.0.0.1", "127.0.1", "::ffff:127.0.0.1",
                      "[::ffff:7f00:1]", "127。0。0。1"])
    func oddLiteralsAreTheAddressTheyMean(_ literal: String) async throws {
        try await withLab { lab in
            let (index, port) = try await lab.server(body: Self.body)
            try await lab.start(policy: lab.policy(["127.0.0.1:\(port)"]))
            let r = try await lab.ask(literal, port)
            #expect(r.status == .ok && r.response?.address == IPAddress("127.0.0.1"), "\(literal): \(r)")
            #expect(r.body == Self.body)
            #expect(try await lab.accepted(index) == 1)
            // Without an address rule it is refused, whatever the spelling.
            try await lab.reload(lab.policy(["localhost:\(port)"]))
            let denied = try await lab.ask(literal, port)
            #expect(denied.status == .denied && denied.reason == "no-destination", "\(literal): \(denied)")
        }
    }

    /// Each refused request counts once, whatever the exit asked meanwhile: a name whose four
    /// addresses are all blocked is one refusal, reported as blocked, not four address denials.
    @Test func aBlockedNameCountsOnceAsBlocked() async throws {
        try await withLab { lab in
            lab.resolver.set("multi.test", ["127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"])
            try await lab.start(policy: lab.policy(["multi.test:443"]))
            let r = try await lab.ask("multi.test", 443)
            #expect(r.status == .blocked && r.reason == "loopback", "\(r)")
            let refusals = try await lab.onLoop { [lab] in lab.relay.recentRefusals.map { "\($0.targetName ?? "-") \($0.status) \($0.reason)" } }
            #expect(refusals == ["multi.test:443 BLOCKED loopback"], "\(refusals)")
        }
    }

    /// An address a rule names, where nothing listens: the connection failed, it was not blocked.
    @Test func aFailedConnectToANamedAddressIsAConnectFailure() async throws {
        try await withLab { lab in
            try await lab.start(policy: lab.policy(["127.0.0.9:9"]))
            let r = try await lab.ask("127.0.0.9", 9)
            #expect(r.status == .connectFailed && r.reason == "connect-failed", "\(r)")
        }
    }

    @Test func aRebindingNameReachesOnlyTheCheckedAddress() async throws {
        try await withLab { lab in
            let (checked, port) = try await lab.server("127.0.0.2", body: "checked\n")
            let (rebound, _) = try await lab.server("127.0.0.3", port: port, body: "rebound\n")
            // First lookup: 127.0.0.2 (named by a rule); every later one: 127.0.0.3 (not named).
            lab.resolver.set("rebind.test", ["127.0.0.2"], ["127.0.0.3"])
            try await lab.start(policy: lab.policy(["rebind.test:\(port)", "127.0.0.2:\(port)"]))
            let first = try await lab.ask("rebind.test", port)
            #expect(first.status == .ok && first.response?.address == IPAddress("127.0.0.2"), "\(first)")
            #expect(first.body == "checked\n")
            #expect(lab.resolver.lookups("rebind.test") == 1, "the exit looked the name up again")
            let second = try await lab.ask("rebind.test", port)
            #expect(second.status == .blocked && second.response?.address == IPAddress("127.0.0.3"), "\(second)")
            #expect(try await lab.accepted(checked) == 1)
            #expect(try await lab.accepted(rebound) == 0)
        }
    }

    @Test func internationalisedNamesMatchTheirASCIIForm() async throws {
        try await withLab { lab in
            let (_, port) = try await lab.server(body: Self.body)
            lab.resolver.set("xn--bcher-kva.test", ["127.0.0.1"])
            try await lab.start(policy: lab.policy(["xn--bcher-kva.test:\(port)", "127.0.0.1:\(port)"]))
            for spelling in ["bücher.test", "BÜCHER.TEST", "xn--bcher-kva.test."] {
                let r = try await lab.ask(spelling, port)
                #expect(r.status == .ok, "\(spelling): \(r)")
            }
        }
    }

    @Test func strangersMalformedRequestsAndBadHostsAreRefused() async throws {
        try await withLab { lab in
            try await lab.start(policy: lab.policy(["app.test:443"]))
            let junk = try await lab.ask("", 0, raw: Delimited.frame([0xFF, 0xFF]))
            #expect(junk.status == .malformed && junk.reason == "bad-request", "\(junk)")
            // Not a name, and not an address as inet_aton reads one either: refused, never matched.
            for host in ["a b.test", "127.0.0.1.", "0x7f.1.", "08.1", "1.2.3.4.5", "fe80::1%eth0", "xn--a\u{200D}b.test"] {
                let badHost = try await lab.ask(host, 443)
                #expect(badHost.status == .malformed && badHost.reason == "bad-host", "\(host): \(badHost)")
            }
            let unresolved = try await lab.ask("app.test", 443)
            #expect(unresolved.status == .unresolved && unresolved.reason == "no-such-name", "\(unresolved)")
            // Without the rule the same name is denied, and never looked up.
            try await lab.reload(lab.policy(["other.test:443"]))
            let lookups = lab.resolver.lookups("app.test")
            #expect(try await lab.ask("app.test", 443).reason == "no-destination")
            #expect(lab.resolver.lookups("app.test") == lookups)
        }
    }

    @Test func narrowingThePolicyCutsOpenExitConnections() async throws {
        try await withLab { lab in
            let (_, port) = try await lab.server(body: Self.body)
            lab.resolver.set("app.test", ["127.0.0.1"])
            try await lab.start(policy: lab.policy(["app.test:\(port)", "127.0.0.1:\(port)"]))
            // An open connection: a bridge that never finishes by itself (the client never closes).
            try await lab.onLoop { [lab] in
                lab.agentConnection.openStream(ProtocolID.airlockExit, timeout: 5) { r in
                    if case .success(let s) = r { s.send(ExitRequest(host: "app.test", port: port).framed()) }
                }
            }
            try await lab.waitUntil("an open exit connection") { [lab] in lab.relayExit!.connections.count == 1 }
            // Still allowed: nothing happens.
            try await lab.reload(lab.policy(["app.test:\(port)", "127.0.0.0/8:\(port)"]))
            let stillOpen = try await lab.onLoop { [lab] in lab.relayExit!.connections.count }
            #expect(stillOpen == 1)
            // The address rule goes: the name still matches, but its address is no longer named.
            let outcome = try await lab.onLoop { [lab] in lab.relay.reload(policy: try Policy.parse(text: lab.policy(["app.test:\(port)"]))) }
            #expect(outcome.exitsClosed == 1)
            try await lab.waitUntil("the connection cut") { [lab] in lab.relayExit!.connections.isEmpty }
            // A cut is the operator's doing, not the agent's refused attempt.
            let refusals = try await lab.onLoop { [lab] in lab.relay.recentRefusals.count }
            #expect(refusals == 0)
            #expect(!lab.logs.lines("exit_revoked", "reason=blocked-address").isEmpty)
            #expect(lab.auditLines("revoke").contains { $0.contains("\"what\":\"exit\"") })
        }
    }

    @Test func everyRequestAndEveryCloseIsAudited() async throws {
        try await withLab { lab in
            let (_, port) = try await lab.server(body: Self.body)
            lab.resolver.set("app.test", ["127.0.0.1"])
            try await lab.start(policy: lab.policy(["app.test:\(port)", "127.0.0.1:\(port)"]))
            #expect(try await lab.ask("app.test", port).status == .ok)
            #expect(try await lab.ask("nope.test", port).status == .denied)
            try await lab.waitUntil("the close audited") { [lab] in !lab.auditLines("exit_closed").isEmpty }
            let exits = lab.auditLines("exit")
            #expect(exits.count == 2, "\(exits)")
            #expect(exits.contains { $0.contains("\"decision\":\"allow\"") && $0.contains("\"target\":\"app.test:\(port)\"")
                && $0.contains("\"agent\":\"agent\"") && $0.contains("\"address\":\"127.0.0.1\"") })
            #expect(exits.contains { $0.contains("\"decision\":\"deny\"") && $0.contains("\"reason\":\"no-destination\"") })
            let closed = lab.auditLines("exit_closed")[0]
            #expect(closed.contains("\"bytes_in\":") && closed.contains("\"bytes_out\":") && closed.contains("\"seconds\":"))
            let denied = try await lab.onLoop { [lab] in lab.relay.counters.exitsRefused["no-destination"] }
            #expect(denied == 1)
            let lastRefusal = try await lab.onLoop { [lab] in lab.relay.recentRefusals.last?.kind }
            #expect(lastRefusal == "exit")
        }
    }

    @Test func anExitPeerAsksTheRelayAndFollowsItsReloads() async throws {
        try await withLab { lab in
            let (index, port) = try await lab.server(body: Self.body)
            lab.resolver.set("app.test", ["127.0.0.1"])
            try await lab.start(policy: lab.policy(["app.test:\(port)", "127.0.0.1:\(port)"], exitPeer: true), exitPeer: true)
            let ok = try await lab.ask("app.test", port, through: true)
            #expect(ok.status == .ok && ok.body == Self.body, "\(ok)")
            let denied = try await lab.ask("app.test", port &+ 1, through: true)
            #expect(denied.status == .denied && denied.reason == "no-destination", "\(denied)")
            // The relay decided both, and audited its answers.
            #expect(lab.auditLines("exit_check").count >= 2)
            // A stream on a direct connection is not an exit peer's to serve.
            await #expect(throws: ShimLabFailure.self) { try await lab.ask("app.test", port) }

            try await lab.onLoop { [lab] in
                lab.agentRelayClient.connect(to: lab.peer("exitpeer")) { r in
                    guard case .success(let c) = r else { return }
                    c.openStream(ProtocolID.airlockExit, timeout: 5) { r in
                        if case .success(let s) = r { s.send(ExitRequest(host: "app.test", port: port).framed()) }
                    }
                }
            }
            try await lab.waitUntil("an open exit connection") { [lab] in lab.exitPeer!.service.connections.count == 1 }
            #expect(try await lab.accepted(index) == 2)
            try await lab.reload(lab.policy(["other.test:\(port)"], exitPeer: true))
            try await lab.waitUntil("the connection cut after the reload notice") { [lab] in lab.exitPeer!.service.connections.isEmpty }
            #expect(!lab.logs.lines("exit_revoked", "reason=no-destination").isEmpty)
        }
    }

    @Test func anExitPeerFailsClosedWithoutItsRelay() async throws {
        try await withLab { lab in
            lab.resolver.set("app.test", ["127.0.0.1"])
            try await lab.start(policy: lab.policy(["app.test:443"], exitPeer: true), exitPeer: true)
            try await lab.onLoop { [lab] in lab.exitPeer!.relayClient.stop() }
            let answer = Mutex<ExitVerdict?>(nil)
            try await lab.onLoop { [lab] in
                lab.exitPeer!.policy.check(source: lab.peer("agent"), host: .name("app.test"), port: 443) { v in answer.withLock { $0 = v } }
            }
            try await lab.waitUntil("a verdict") { answer.withLock { $0 } != nil }
            let v = answer.withLock { $0 }!
            #expect(!v.allowed && v.reason == "policy-unavailable", "\(v)")
        }
    }
}
