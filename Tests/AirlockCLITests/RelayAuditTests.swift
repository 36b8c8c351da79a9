#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockCore
import AirlockCrypto

/// `airlock relay` with an audit log (`audit_log` in the config): every decision is one JSON
/// line, and SIGHUP reloads are decided and audited; a malformed one changes nothing.
@Suite(.serialized) struct RelayAuditTests {
    @Test func sighupReloadsAreAuditedAndAMalformedPolicyChangesNothing() async throws {
        let keys = try TempDir()
        let svcKey = Ed25519PrivateKey()
        try KeyFile.write(svcKey, to: keys.file("svc.key"))
        let svc = "\(PeerID(publicKey: svcKey.publicKey))"
        let policy = #"{ "version": 1, "services": { "svc": { "peer": "\#(svc)" } }, "agents": { "coder": { "uid": 1000 } }, "rules": [ { "from": "coder", "to": "svc" } ] }"#
        let config = #"{ "version": 1, "listen": ["127.0.0.1:PORT"], "key": "relay.key", "policy": "policy.json", "hub": { "enabled": false }, "audit_log": "audit.jsonl" }"#
        let relay = try await RelayCommandInteropTests.RelayUnderTest(policy: policy, config: config)
        defer { relay.child.kill() }
        let target = try TinyHTTPServer(body: "x")
        defer { target.stop() }
        let expose = try ChildProcess(airlockBinary(), ["expose", "svc", "--target", "127.0.0.1:\(target.port)", "--relay", relay.address,
                                                        "--key", keys.file("svc.key")], name: "expose svc")
        defer { expose.kill() }
        _ = try await expose.nextLine(timeout: 20, "exposed svc") { $0.hasPrefix("exposed ") }
        try await relay.waitFor("reservation", "peer=\(svc)", "status=OK")

        let path = relay.dir.file("policy.json")
        func push(_ text: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }
        try push(policy.replacingOccurrences(of: #""uid": 1000"#, with: #""uid": -1"#))
        relay.child.signal(SIGHUP)
        try await relay.waitFor("policy_reload_refused", "agents.coder.uid")
        // The last good policy stays: svc keeps its reservation.
        #expect(relay.lines("reservation_ended").isEmpty)

        // Narrowing: svc is no longer a service, so its reservation goes at once.
        try push(#"{ "version": 1, "agents": { "coder": { "uid": 1000 } } }"#)
        relay.child.signal(SIGHUP)
        try await relay.waitFor("reservation_ended", "peer=\(svc)", "reason=revoked")
        try await relay.waitFor("policy_reloaded", "reservations_ended=1")

        let lines = try String(contentsOfFile: relay.dir.file("audit.jsonl"), encoding: .utf8).split(separator: "\n").map(String.init)
        let objects = try lines.map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
        for o in objects {
            for k in ["time", "event", "agent", "peer", "target", "decision", "reason"] { #expect(o.keys.contains(k), "\(k) missing in \(o)") }
        }
        func has(_ event: String, _ decision: String, _ reason: String) -> [String: Any]? {
            objects.first { $0["event"] as? String == event && $0["decision"] as? String == decision && $0["reason"] as? String == reason }
        }
        let reserve = try #require(has("reserve", "allow", "service"))
        #expect(reserve["agent"] as? String == "svc" && reserve["peer"] as? String == svc)
        let refused = try #require(has("reload", "deny", "invalid"))
        #expect((refused["problems"] as? String)?.contains("\(path):1:") == true, "\(refused)")
        let revoked = try #require(has("revoke", "deny", "unknown-peer"))
        #expect(revoked["peer"] as? String == svc && revoked["what"] as? String == "reservation")
        #expect(has("reload", "allow", "valid")?["reservations_ended"] as? Int == 1)
        // Created 0640 (less under a stricter umask): the audit names peers and is for the operator.
        var st = stat()
        #expect(stat(relay.dir.file("audit.jsonl"), &st) == 0 && st.st_mode & 0o007 == 0)
    }

    @Test func auditToStderrAndAnUnopenableAuditFileIsRefused() async throws {
        let dir = try TempDir()
        _ = try airlock(["key", "generate", "--out", "relay.key"], in: dir)
        try dir.write("policy.json", #"{ "version": 1 }"#)
        let bad = try airlock(["relay", "--listen", "127.0.0.1:0", "--key", "relay.key", "--policy", "policy.json", "--no-hub",
                               "--audit", "/nonexistent/dir/audit.jsonl"], in: dir)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("cannot open the audit log /nonexistent/dir/audit.jsonl: No such file or directory"))
        let empty = try airlock(["relay", "--listen", "127.0.0.1:0", "--key", "relay.key", "--policy", "policy.json", "--audit="], in: dir)
        #expect(empty.status == 64)

        let relay = try ChildProcess(airlockBinary(), ["relay", "--listen", "127.0.0.1:0", "--key", "relay.key", "--policy", "policy.json",
                                                       "--no-hub", "--audit", "-"], directory: dir.path)
        defer { relay.kill() }
        _ = try await relay.nextLine(timeout: 30, "listening") { $0.hasPrefix("listening ") }
        relay.signal(SIGHUP)
        let ok = try await AgentRig.eventually(timeout: 15) { relay.stderrLines.contains { $0.hasPrefix("{") && $0.contains(#""event":"reload""#) } }
        #expect(ok, "\(relay.stderrText)")
        let line = try #require(relay.stderrLines.first { $0.hasPrefix("{") })
        let o = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(o["decision"] as? String == "allow" && o["reason"] as? String == "valid" && o["agent"] is NSNull)
    }
}
