#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockAgent

/// Privileged: policy reload on a real relay with a real run (design §2 invariant 7), through
/// SIGHUP and through the control socket (`airlock allow` / `deny`), and `airlock status`.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct RelayReloadTests {
    /// Three loops ask for `other` (denied until the last push) as fast as curl goes, each
    /// answer one line; one loop asks for `web`.
    static let hammer = """
        for i in 1 2 3; do
          (while :; do
            o=$(curl -s -m 2 http://other/ 2>/dev/null); case "$o" in *"other says hi"*) echo OTHER-OK;; *) echo OTHER-NO;; esac
          done) &
        done
        while :; do
          w=$(curl -s -m 2 http://web/ 2>/dev/null); case "$w" in *"hello from web"*) echo WEB-OK;; *) echo WEB-NO;; esac
        done
        """

    static func count(_ run: ChildProcess, _ line: String) -> Int { run.stdoutLines.filter { $0 == line }.count }

    /// Waits for `n` relay log lines of `event` containing `parts`.
    static func waitForLog(_ rig: AgentRig, _ event: String, _ parts: String..., count n: Int = 1, timeout: Double = 30) async throws {
        let ok = try await AgentRig.eventually(timeout: timeout) {
            rig.relayLog.filter { l in l.contains(" \(event) ") && parts.allSatisfy { l.contains($0) } }.count >= n
        }
        if !ok { throw ChildProcess.Failure(description: "no \(n)× \(event) \(parts) in the relay log:\n\(rig.relayLog.suffix(30).joined(separator: "\n"))") }
    }

    /// An agent hammers a denied service while policies are pushed: no-op (SIGHUP), malformed
    /// (SIGHUP), narrowing (SIGHUP), widening (`airlock allow`, control socket). The denied
    /// service is never reached before it is allowed, the malformed file changes nothing, and
    /// the narrowing closes the live circuit to `web` as soon as the reload is applied.
    @Test func reloadUnderLoad() async throws {
        let rig = try await AgentRig()
        defer { rig.finish() }
        let run = try rig.startRun(["--", "sh", "-c", Self.hammer])
        defer { run.kill() }
        let policy = rig.dir.file("policy.json")
        func push(_ text: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: policy)) }

        #expect(try await AgentRig.eventually(timeout: 60) { Self.count(run, "WEB-OK") >= 2 }, "web never answered: \(run.stderrText)")
        try await Self.waitForLog(rig, "circuit_opened", "dst=\(rig.webPeer)")

        // No-op: the same policy again.
        rig.relay.signal(SIGHUP)
        try await Self.waitForLog(rig, "policy_reloaded", "circuits_closed=0")
        // Malformed: refused with its position; the last good policy stays and web still works.
        try push(rig.policyText.replacingOccurrences(of: "\"rules\"", with: "\"rulez\""))
        rig.relay.signal(SIGHUP)
        try await Self.waitForLog(rig, "policy_reload_refused", "policy.json:", "rulez: unknown field")
        let webBefore = Self.count(run, "WEB-OK")
        #expect(try await AgentRig.eventually(timeout: 30) { Self.count(run, "WEB-OK") >= webBefore + 2 })
        #expect(rig.relayLines("circuit_revoked").isEmpty)

        // Narrowing: no rule to web. The live circuit is closed at once, and logged.
        try push(Self.without(rig.policyText, rule: "web"))
        rig.relay.signal(SIGHUP)
        try await Self.waitForLog(rig, "circuit_revoked", "dst=\(rig.webPeer)", "reason=no-rule")
        try await Self.waitForLog(rig, "circuit_closed", "dst=\(rig.webPeer)", "revoked: no-rule")
        try await Self.waitForLog(rig, "policy_reloaded", "circuits_closed=1")
        let noBefore = Self.count(run, "WEB-NO")
        #expect(try await AgentRig.eventually(timeout: 30) { Self.count(run, "WEB-NO") > noBefore })

        // Until now `other` was denied every time.
        #expect(Self.count(run, "OTHER-OK") == 0)
        #expect(Self.count(run, "OTHER-NO") >= 10)
        #expect(rig.relayLines("circuit_opened", "dst=\(rig.otherPeer)").isEmpty)
        #expect(!rig.relayLines("circuit_refused", "dst=\(rig.otherPeer)", "reason=no-rule").isEmpty)

        // Widening through `airlock allow`: the relay reloads over the control socket.
        let allow = try await rig.airlockCommand(["allow", "tester", "other", "--policy", policy, "--control", rig.control])
        #expect(allow.status == 0, "\(allow.stderr)")
        #expect(allow.stdout.contains("allowed tester → other"))
        #expect(allow.stdout.contains("relay reloaded \(Self.real(policy)): 1 rule"), "\(allow.stdout)")
        #expect(!allow.stderr.contains("note:"), "\(allow.stderr)")
        #expect(try await AgentRig.eventually(timeout: 30) { Self.count(run, "OTHER-OK") >= 1 }, "other never answered after the allow")
        try await Self.waitForLog(rig, "policy_reload_requested", "uid=0")
    }

    /// `path` with symlinks and doubled slashes resolved, as the relay reports the file it read.
    static func real(_ path: String) -> String {
        guard let r = realpath(path, nil) else { return path }
        defer { free(r) }
        return String(cString: r)
    }

    /// `policy` (the rig's, as JSON text) without its rule to `target`.
    static func without(_ policy: String, rule target: String) -> String {
        var object = (try? JSONSerialization.jsonObject(with: Data(policy.utf8))) as? [String: Any] ?? [:]
        let rules = (object["rules"] as? [[String: Any]]) ?? []
        object["rules"] = rules.filter { $0["to"] as? String != target }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// `airlock deny` through the control socket closes the run's live circuit; a caller who
    /// is neither root nor the policy's owner may not reload; the owner may.
    @Test func denyClosesTheCircuitAndOnlyRootOrTheOwnerMayReload() async throws {
        let rig = try await AgentRig(agents: { _ in
            #"{ "agents": { "tester": { "uid": 0 }, "alice": { "uid": 4242 } }, "rules": [ { "from": "tester", "to": "web" }, { "from": "alice", "to": "other" } ] }"#
        })
        defer { rig.finish() }
        let run = try rig.startRun(["--name", "tester", "--", "sh", "-c", "curl -s -m 10 http://web/ >/dev/null && echo READY; sleep 120"])
        defer { run.kill() }
        _ = try await run.nextLine(timeout: 60, "READY") { $0 == "READY" }
        #expect(rig.relayLines("circuit_opened", "dst=\(rig.webPeer)").count == 1)

        let policy = rig.dir.file("policy.json")
        let alice = RigUser(uid: 4242, gid: 4242, groups: [RigUser.airlockGroup])
        let refused = try await rig.airlockCommand(["policy", "reload", "--control", rig.control], as: alice)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("only root and the owner of \(policy) (uid 0) may reload the policy; you are uid 4242"), "\(refused.stderr)")

        // A malformed file pushed through the control socket: refused with its problems, and
        // the run's circuit stays.
        let good = try String(contentsOfFile: policy, encoding: .utf8)
        try Data(good.replacingOccurrences(of: "\"uid\" : 4242", with: "\"uid\" : \"alice\"").utf8).write(to: URL(fileURLWithPath: policy))
        let malformed = try await rig.airlockCommand(["policy", "reload", "--control", rig.control])
        #expect(malformed.status == 1)
        #expect(malformed.stderr.contains("does not validate; the last good policy stays"), "\(malformed.stderr)")
        #expect(malformed.stderr.contains("\(policy):") && malformed.stderr.contains("agents.alice.uid: expected"), "\(malformed.stderr)")
        #expect(rig.relayLines("circuit_revoked").isEmpty)
        try Data(good.utf8).write(to: URL(fileURLWithPath: policy))

        let deny = try await rig.airlockCommand(["deny", "tester", "web", "--policy", policy, "--control", rig.control])
        #expect(deny.status == 0, "\(deny.stderr)")
        #expect(deny.stdout.contains("denied tester → web (rule removed)"))
        #expect(deny.stdout.contains("no longer allowed: 1 circuit closed"), "\(deny.stdout)")
        try await Self.waitForLog(rig, "circuit_revoked", "dst=\(rig.webPeer)", "reason=no-rule")

        #expect(chown(policy, 4242, 4242) == 0)
        let owner = try await rig.airlockCommand(["policy", "reload", "--control", rig.control], as: alice)
        #expect(owner.status == 0, "\(owner.stderr)")
        #expect(owner.stdout == "relay reloaded \(Self.real(policy)): 1 rule")
    }

    /// `airlock status` against a real relay with a run: the run, both services' reservations,
    /// the run's circuit with its bytes, and its refusal; as a table and as JSON. A member of
    /// group airlock sees only its own.
    @Test func statusShowsTheRunItsCircuitAndItsRefusals() async throws {
        let rig = try await AgentRig(agents: { _ in
            #"{ "agents": { "tester": { "uid": 0 }, "alice": { "uid": 4242 } }, "rules": [ { "from": "tester", "to": "web" }, { "from": "alice", "to": "other" } ] }"#
        })
        defer { rig.finish() }
        let script = "curl -s -m 10 http://web/ >/dev/null; curl -s -m 10 http://other/ >/dev/null; echo READY; sleep 120"
        let run = try rig.startRun(["--name", "tester", "--", "sh", "-c", script])
        defer { run.kill() }
        _ = try await run.nextLine(timeout: 60, "READY") { $0 == "READY" }

        let table = try await rig.airlockCommand(["status", "--control", rig.control])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("relay 12D3KooW") == true && lines.first?.hasSuffix("policy \(rig.dir.file("policy.json"))") == true)
        for title in ["agents (1)", "reservations (2)", "circuits (1)"] { #expect(lines.contains(title), "\(title) in\n\(table.stdout)") }
        #expect(lines.contains { $0.hasPrefix("recent refusals (") })
        #expect(lines.contains { $0.wholeMatch(of: /\ \ tester +tester +run +0 +169\.254\.\d+\.\d+ +\d+s +1 +12D3KooW\w+/) != nil }, "\(table.stdout)")
        #expect(lines.contains { $0.wholeMatch(of: /\ \ web +\d+m\d\ds +12D3KooW\w+/) != nil }, "\(table.stdout)")
        #expect(lines.contains { $0.wholeMatch(of: /\ \ other +\d+m\d\ds +12D3KooW\w+/) != nil }, "\(table.stdout)")
        #expect(lines.contains { $0.wholeMatch(of: /\ \ tester +web +[\d.]+ (B|KiB) +[\d.]+ (B|KiB) +\d+s/) != nil }, "\(table.stdout)")
        #expect(lines.contains { $0.wholeMatch(of: /\ \ \d+s +connect +tester +other +PERMISSION_DENIED +no-rule/) != nil }, "\(table.stdout)")

        let json = try await rig.airlockCommand(["status", "--json", "--control", rig.control])
        #expect(json.status == 0, "\(json.stderr)")
        let status = try JSONDecoder().decode(ControlProtocol.Status.self, from: Data(json.stdout.utf8))
        #expect(status.agents.map(\.name) == ["tester"])
        #expect(status.agents.first?.kind == "run")
        #expect(status.agents.first?.circuits == 1)
        #expect(Set(status.reservations.compactMap(\.name)) == ["web", "other"])
        #expect(status.reservations.allSatisfy { $0.expiresIn > 0 && Double($0.expire) > status.time })
        let circuit = try #require(status.circuits.first)
        #expect(circuit.sourceName == "tester" && circuit.targetName == "web" && circuit.target == rig.webPeer)
        #expect(circuit.bytesUp > 0 && circuit.bytesDown > 0)
        #expect(status.refusals.contains { $0.sourceName == "tester" && $0.targetName == "other" && $0.reason == "no-rule" })
        #expect(status.counters["circuits_live"] == 1 && status.counters["reservations_live"] == 2)
        #expect((status.counters["circuits_refused.PERMISSION_DENIED"] ?? 0) >= 1)
        #expect(lines.contains { $0.wholeMatch(of: /\ \ circuits_opened +1/) != nil }, "\(table.stdout)")

        // alice (group airlock) sees none of root's agents, circuits or refusals, and only the
        // reservation of the service her agent has a rule to.
        let alice = RigUser(uid: 4242, gid: 4242, groups: [RigUser.airlockGroup])
        let hers = try await rig.airlockCommand(["status", "--json", "--control", rig.control], as: alice)
        #expect(hers.status == 0, "\(hers.stderr)")
        let own = try JSONDecoder().decode(ControlProtocol.Status.self, from: Data(hers.stdout.utf8))
        #expect(own.agents.isEmpty && own.circuits.isEmpty && own.refusals.isEmpty)
        #expect(own.reservations.compactMap(\.name) == ["other"])
        #expect(own.counters.isEmpty)
    }
}
