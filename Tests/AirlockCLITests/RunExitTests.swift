#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockAgent

/// Privileged: exits end to end with the real binaries (design §2 invariant 6). Unmodified curl
/// inside `airlock run` reaches a server on the host's 127.0.0.1 by name, through the relay's
/// own exit (`airlock relay --exit`) and through an exit peer (`airlock exit`). Names resolve
/// only from the exits' `--hosts` maps, with system DNS off, so no test sends a DNS query; the
/// only address any exit may dial is the test server's, named by a rule.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct RunExitTests {
    /// Names the exits know: `app.test` is the rig's web server's address, `blocked.test` is
    /// another loopback address no rule names.
    static let hosts = "127.0.0.1 app.test\n127.0.0.9 blocked.test  # no rule names this address\n"

    /// Agent `tester` may reach `app.test` and the server's address on its port only, through
    /// exit `out` at `location` (`relay` or an exit peer's ID), plus service `web`.
    static func agents(_ rig: AgentRig, location: String) -> String {
        let port = rig.webServer.port
        return """
            { "agents": { "tester": { "uid": 0 } },
              "exits": { "out": { "peer": "\(location)" } },
              "rules": [ { "from": "tester", "to": "web" },
                         { "from": "tester", "to": "out", "destinations": ["app.test:\(port)", "127.0.0.1:\(port)", "blocked.test:\(port)"] } ] }
            """
    }

    /// What the agent runs: allowed, wrong port, unlisted name, blocked address, SOCKS5h.
    static func script(_ port: UInt16) -> String {
        """
        curl -s -m 10 http://app.test:\(port)/; echo "allowed=$?"
        curl -s -m 10 -i http://app.test:\(port + 1)/ | grep -i x-airlock-reason
        curl -s -m 10 -i http://nowhere.test:\(port)/ | grep -i x-airlock-reason
        curl -s -m 10 -i http://blocked.test:\(port)/ | grep -i x-airlock-reason
        curl -s -m 10 --socks5-hostname 127.0.0.1:1080 --noproxy '' http://app.test:\(port)/; echo "socks=$?"
        getent hosts app.test; echo "resolve=$?"
        """
    }

    static func check(_ r: RunResult, _ port: UInt16) {
        #expect(r.status == 0, "\(r.stderr)")
        // By line, whatever the ending: curl -i prints the headers with CRLF.
        let lines = r.stdout.split(whereSeparator: \.isNewline).map(String.init)
        #expect(lines.filter { $0 == AgentRig.webBody.dropLast() }.count == 2, "\(r.stdout)")
        #expect(lines.contains("allowed=0") && lines.contains("socks=0"), "\(r.stdout)")
        // Refusals say why: the port and the name are the policy's; the address the exit's.
        #expect(lines.filter { $0.lowercased() == "x-airlock-reason: denied-by-policy" }.count == 2, "\(r.stdout)")
        #expect(lines.contains { $0.lowercased() == "x-airlock-reason: blocked-address" }, "\(r.stdout)")
        // Nothing resolves inside the namespace.
        #expect(lines.contains("resolve=2"), "\(r.stdout)")
    }

    @Test func curlReachesAnAllowedNameThroughTheRelaysExit() async throws {
        let rig = try await AgentRig(agents: { Self.agents($0, location: "relay") },
                                     relayExtra: ["--exit", "--hosts", "hosts", "--no-system-dns", "--audit", "audit.jsonl"],
                                     files: ["hosts": Self.hosts])
        defer { rig.finish() }
        let port = rig.webServer.port
        let r = try await rig.run(["--", "sh", "-c", Self.script(port)], timeout: 90)
        Self.check(r, port)
        #expect(rig.relayLines("exit_connected", "target=app.test:\(port)", "address=127.0.0.1").count == 2, "\(rig.relayLog.suffix(20))")
        #expect(rig.relayLines("exit_refused", "target=blocked.test:\(port)", "reason=loopback").count == 1)
        let audit = try String(contentsOfFile: rig.dir.file("audit.jsonl"), encoding: .utf8)
        #expect(audit.contains("\"event\":\"exit\",\"agent\":\"tester\""), "\(audit)")
        #expect(audit.contains("\"reason\":\"no-destination\""))
        #expect(audit.contains("\"event\":\"exit_closed\""))
        // SIGUSR1: the exit's counters beside the relay's.
        rig.relay.signal(SIGUSR1)
        #expect(try await AgentRig.eventually(timeout: 10) {
            !rig.relayLines("exit_counters", "requests=5", "connected=2", "refused.no-destination=2", "refused.loopback=1").isEmpty
        }, "\(rig.relayLog.suffix(5))")
    }

    @Test func curlReachesAnAllowedNameThroughAnExitPeer() async throws {
        var exitPeer = ""
        let rig = try await AgentRig(agents: { rig in
            if exitPeer.isEmpty { exitPeer = (try? AgentRig.key(rig.dir, "exit.key")) ?? "" }
            return Self.agents(rig, location: exitPeer)
        }, files: ["hosts": Self.hosts])
        defer { rig.finish() }
        let exit = try ChildProcess(airlockBinary(), ["exit", "out", "--relay", rig.relayAddress, "--key", rig.dir.file("exit.key"),
                                                      "--hosts", rig.dir.file("hosts"), "--no-system-dns"],
                                    name: "airlock exit", directory: rig.dir.path)
        defer { exit.kill() }
        _ = try await exit.nextLine(timeout: 20, "the exit's ready line") { $0.hasPrefix("exit out ready as \(exitPeer)") }
        let port = rig.webServer.port
        let r = try await rig.run(["--", "sh", "-c", Self.script(port)], timeout: 90)
        Self.check(r, port)
        // The relay decided each request; the exit dialled.
        #expect(rig.relayLines("exit_denied", "target=nowhere.test:\(port)", "reason=no-destination").count == 1, "\(rig.relayLog.suffix(20))")
        #expect(exit.stderrLines.contains { $0.contains(" exit_connected ") && $0.contains("address=127.0.0.1") }, "\(exit.stderrText.suffix(2000))")

        // Narrowing: deny drops the rule; the exit peer hears of the reload.
        let deny = try await rig.airlockCommand(["deny", "tester", "out", "--policy", rig.dir.file("policy.json"), "--control", rig.control])
        #expect(deny.status == 0, "\(deny.stderr)")
        #expect(try await AgentRig.eventually(timeout: 10) { exit.stderrLines.contains { $0.contains(" exit_policy_reloaded") } })
        let after = try await rig.run(["--", "sh", "-c", "curl -s -m 10 -i http://app.test:\(port)/ | grep -i x-airlock-reason"], timeout: 60)
        #expect(after.stdout.lowercased().contains("x-airlock-reason: denied-by-policy"), "\(after.stdout) \(after.stderr)")
    }

    /// A run started before its agent had any rule to the exit reaches what a later
    /// `airlock allow` grants, without restarting.
    @Test func anExitRuleAddedDuringARunAppliesToIt() async throws {
        let rig = try await AgentRig(agents: { _ in
            #"{ "agents": { "tester": { "uid": 0 } }, "exits": { "out": { "peer": "relay" } }, "rules": [ { "from": "tester", "to": "web" } ] }"#
        }, relayExtra: ["--exit", "--hosts", "hosts", "--no-system-dns"], files: ["hosts": Self.hosts])
        defer { rig.finish() }
        let port = rig.webServer.port
        let script = """
            curl -s -m 10 -i http://app.test:\(port)/ | grep -i x-airlock-reason; echo first-done
            while [ ! -e allowed ]; do sleep 0.05; done
            curl -s -m 10 http://app.test:\(port)/
            """
        let run = try rig.startRun(["--", "sh", "-c", script])
        defer { run.kill() }
        _ = try await run.nextLine(timeout: 60, "the first attempt") { $0 == "first-done" }
        #expect(run.stdoutLines.contains { $0.lowercased().hasPrefix("x-airlock-reason: denied-by-policy") }, "\(run.stdoutLines)")
        let allow = try await rig.airlockCommand(["allow", "tester", "out", "app.test:\(port)", "127.0.0.1:\(port)",
                                                  "--policy", rig.dir.file("policy.json"), "--control", rig.control])
        #expect(allow.status == 0, "\(allow.stderr)")
        try rig.dir.write("allowed", "")
        #expect(try await run.waitForExit(timeout: 30) == 0, "\(run.stderrText)")
        #expect(run.stdoutLines.last == String(AgentRig.webBody.dropLast()), "\(run.stdoutLines)")
    }

    /// `airlock status` lists the relay exit's open connections and its refusals.
    @Test func statusShowsExitConnectionsAndRefusals() async throws {
        // A listener that never accepts: the kernel completes connections into its backlog, so
        // the exit's connection stays open while nothing is ever answered.
        let hold = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(hold) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(hold, $0, len) == 0 && listen(hold, 8) == 0 && getsockname(hold, $0, &len) == 0 }
        }
        try #require(bound)
        let holdPort = UInt16(bigEndian: addr.sin_port)
        let rig = try await AgentRig(agents: { rig in
            """
            { "agents": { "tester": { "uid": 0 } }, "exits": { "out": { "peer": "relay" } },
              "rules": [ { "from": "tester", "to": "out", "destinations": ["hold.test:\(holdPort)", "127.0.0.1:\(holdPort)"] } ] }
            """
        }, relayExtra: ["--exit", "--hosts", "hosts", "--no-system-dns"], files: ["hosts": "127.0.0.1 hold.test\n"])
        defer { rig.finish() }
        let script = """
            curl -s -m 5 -o /dev/null http://nowhere.test/
            sleep 60 | curl -s --socks5-hostname 127.0.0.1:1080 --noproxy '' telnet://hold.test:\(holdPort) &
            echo READY; sleep 60
            """
        let run = try rig.startRun(["--", "sh", "-c", script])
        defer { run.kill() }
        _ = try await run.nextLine(timeout: 60, "READY") { $0 == "READY" }
        #expect(try await AgentRig.eventually(timeout: 15) { rig.relayLines("exit_connected", "target=hold.test:\(holdPort)").count == 1 })

        let table = try await rig.airlockCommand(["status", "--control", rig.control])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("exit connections (1)"), "\(table.stdout)")
        #expect(lines.contains { $0.wholeMatch(of: /\ \ tester +hold\.test:\d+ +127\.0\.0\.1 +\d+ B +\d+ B +\d+s/) != nil }, "\(table.stdout)")
        #expect(lines.contains { $0.wholeMatch(of: /\ \ \d+s +exit +tester +nowhere\.test:80 +DENIED +no-destination/) != nil }, "\(table.stdout)")
    }

    /// A reload re-reads the exit's hosts file: a name added there resolves from then on.
    @Test func aReloadRereadsTheHostsFile() async throws {
        var port: UInt16 = 0
        let rig = try await AgentRig(agents: { rig in
            port = rig.webServer.port
            return """
                { "agents": { "tester": { "uid": 0 } }, "exits": { "out": { "peer": "relay" } },
                  "rules": [ { "from": "tester", "to": "out", "destinations": ["late.test:\(port)", "127.0.0.1:\(port)"] } ] }
                """
        }, relayExtra: ["--exit", "--hosts", "hosts", "--no-system-dns"], files: ["hosts": Self.hosts])
        defer { rig.finish() }
        let before = try await rig.run(["--", "sh", "-c", "curl -s -m 10 -i http://late.test:\(port)/ | grep -i x-airlock-reason"])
        #expect(before.stdout.lowercased().contains("x-airlock-reason: unresolved"), "\(before.stdout) \(before.stderr)")
        try rig.dir.write("hosts", Self.hosts + "127.0.0.1 late.test\n")
        rig.relay.signal(SIGHUP)
        #expect(try await AgentRig.eventually(timeout: 10) { !rig.relayLines("exit_hosts_reloaded").isEmpty })
        let after = try await rig.run(["--", "curl", "-s", "-m", "10", "http://late.test:\(port)/"])
        #expect(after.stdout == String(AgentRig.webBody.dropLast()), "\(after.stdout) \(after.stderr)")
    }

    @Test func exitDenialsCountForKillOnDeny() async throws {
        let rig = try await AgentRig(agents: { Self.agents($0, location: "relay") },
                                     relayExtra: ["--exit", "--hosts", "hosts", "--no-system-dns"], files: ["hosts": Self.hosts])
        defer { rig.finish() }
        let script = "for i in 1 2 3 4; do curl -s -m 10 -o /dev/null http://nowhere.test/; echo tried $i; done; sleep 30"
        let r = try await rig.run(["--kill-on-deny", "2", "--", "sh", "-c", script], timeout: 90)
        #expect(r.status == 137, "\(r.stderr)")
        #expect(r.stderr.contains("after 2 refused connection attempts (last: nowhere.test:80 via exit out, no-destination)"), "\(r.stderr)")
        #expect(r.stdout == "tried 1", "\(r.stdout)")
    }
}
