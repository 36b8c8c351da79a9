#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockAgent

/// Privileged: `airlock run` with limits against a real relay: each bound kills the whole tree,
/// says which on stderr, exits 137, and leaves neither a process nor a cgroup.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct SandboxLimitTests {
    /// Runs `args` under `airlock run` and checks what every limit kill has in common.
    static func killed(_ rig: AgentRig, _ args: [String], says message: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> RunResult {
        let r = try await rig.run(args, timeout: 90)
        #expect(r.status == 137, "\(r.stderr) \(rig.relayLog.suffix(8))", sourceLocation: sourceLocation)
        #expect(r.stderr.contains("airlock: \(message)\n"), "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(try await AgentRig.eventually(timeout: 10) { rig.cgroups().isEmpty }, "left: \(rig.cgroups())", sourceLocation: sourceLocation)
        return r
    }

    /// The run's processes: those whose command line starts with `prefix`.
    static func gone(_ prefix: String) async throws -> Bool {
        try await AgentRig.eventually(timeout: 10) { AgentRig.processes(startingWith: prefix).isEmpty }
    }

    @Test func aForkBombUnderPidsIsKilledAndLeavesNothing() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let marker = RunTeardownTests.marker()
        // The shell waits, so the tree lives until the bound ends it.
        let bomb = "sleep \(marker) & bomb() { bomb | bomb & }; bomb; wait"
        _ = try await Self.killed(rig, ["--pids", "32", "--", "sh", "-c", bomb], says: "--pids 32 reached: the agent's tree was killed")
        #expect(try await Self.gone("sleep \(marker)"))
        #expect(rig.relayLines("run_limits", "run=tester").first?.contains("pids 32 (") == true, "\(rig.relayLog.suffix(8))")
        #expect(rig.relayLines("run_killed", "run=tester", "--pids 32 reached").count == 1, "\(rig.relayLog.suffix(8))")
    }

    @Test func aMemoryHogUnderMemoryIsKilled() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        // Bytes that are written, not zero pages: each MiB really counts.
        let hog = "a = []\nwhile True: a.append(b'x' * (1 << 20))"
        _ = try await Self.killed(rig, ["--memory", "64M", "--", "python3", "-c", hog], says: "--memory 64 MiB reached: the agent's tree was killed")
        #expect(rig.relayLines("run_limits", "run=tester").first?.contains("memory 64 MiB (") == true)
        // The relay's log names the bound too, not only a status 137.
        #expect(rig.relayLines("run_ended", "run=tester", "--memory 64 MiB reached").count == 1, "\(rig.relayLog.suffix(6))")
    }

    /// Socket buffers count under --memory too: loopback TCP connections inside the agent's
    /// namespace that are written to and never read stop taking data at the limit.
    @Test func unreadSocketBuffersCountUnderMemory() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let hog = """
            import socket
            l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(64)
            keep, queued, chunk = [], 0, b'x' * 65536
            for _ in range(40):
                c = socket.create_connection(l.getsockname()); s, _ = l.accept(); c.setblocking(False)
                keep += [c, s]
                while True:
                    try: queued += c.send(chunk)
                    except (BlockingIOError, OSError): break
            print(queued >> 20, flush=True)
            """
        let r = try await rig.run(["--memory", "64M", "--timeout", "60", "--", "python3", "-c", hog], timeout: 90)
        let queued = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        // Killed at the bound, or held below it: never hundreds of MiB the limit does not see.
        #expect(r.status == 137 || (queued != nil && queued! < 80), "status \(r.status), queued MiB \(r.stdout), \(r.stderr)")
    }

    @Test func aBusyLoopUnderCpuIsKilled() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        _ = try await Self.killed(rig, ["--cpu", "1s", "--", "sh", "-c", "while :; do :; done"], says: "--cpu 1 s reached: the agent's tree was killed")
        #expect(rig.relayLines("run_limits", "run=tester").first?.contains("cpu 1 s (") == true)
    }

    @Test func aSleepUnderTimeoutIsKilled() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let marker = RunTeardownTests.marker()
        _ = try await Self.killed(rig, ["--timeout", "1s", "--", "sleep", marker], says: "--timeout 1 s reached: the agent's tree was killed")
        #expect(try await Self.gone("sleep \(marker)"))
        #expect(rig.relayLines("run_killed", "run=tester", "--timeout 1 s reached").count == 1, "\(rig.relayLog.suffix(8))")
    }

    @Test func aDetachedDaemonLivesInTheCgroupUntilRunIsKilled() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let marker = RunTeardownTests.marker()
        // A double fork into a new session: its parent exits, it is nobody's child but the init's.
        let run = try rig.startRun(["--", "sh", "-c", "(setsid sleep \(marker) &); exec sleep 3600"])
        defer { run.kill() }
        let up = try await AgentRig.eventually { !AgentRig.processes(startingWith: "sleep \(marker)").isEmpty }
        try #require(up, "\(run.stderrText) \(rig.relayLog.suffix(8))")
        let daemon = try #require(AgentRig.processes(startingWith: "sleep \(marker)").first)
        let leaf = "/airlock-\(rig.prefix)/tester"
        let cgroup = try String(contentsOfFile: "/proc/\(daemon)/cgroup", encoding: .utf8)
        #expect(cgroup.split(separator: "\n").contains { $0.hasSuffix(leaf) }, "the daemon is in the run's cgroup: \(cgroup)")
        #expect(!rig.cgroups().isEmpty)
        // The shim is a separate tree: never in the agent's cgroup, never under its limits.
        let shimPID = try #require(rig.relayLines("shim_ready", "run=tester").first?.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap { Int32($0.dropFirst(4)) })
        let shimCgroup = try String(contentsOfFile: "/proc/\(shimPID)/cgroup", encoding: .utf8)
        #expect(!shimCgroup.contains("airlock-\(rig.prefix)"), "\(shimCgroup)")

        run.signal(SIGKILL)
        #expect(try await Self.gone("sleep \(marker)"), "the daemon outlived its run")
        #expect(try await AgentRig.eventually(timeout: 10) { rig.cgroups().isEmpty }, "left: \(rig.cgroups())")
    }

    @Test func killOnDenyEndsTheRunAtTheNthRefusal() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        // `other` is a service the policy does not give tester: each fetch is a refused CONNECT.
        let script = "for i in 1 2 3 4 5 6; do curl -s -m 10 -o /dev/null http://other/; echo tried $i; done; sleep 30"
        let r = try await rig.run(["--kill-on-deny", "3", "--", "sh", "-c", script], timeout: 90)
        #expect(r.status == 137, "\(r.stderr) \(rig.relayLog.suffix(8))")
        #expect(r.stderr.contains("airlock: --kill-on-deny 3 reached: the agent's tree was killed after 3 refused connection attempts (last: other, no-rule)\n"), "\(r.stderr)")
        // Killed before the third refusal was answered: its curl never returned.
        #expect(r.stdout == "tried 1\ntried 2", "\(r.stdout)")
        #expect(rig.relayLines("run_killed", "run=tester", "kill-on-deny: 3 refused connection attempts (last: other, no-rule)").count == 1,
                "\(rig.relayLog.suffix(10))")
        #expect(rig.relayLines("circuit_refused", "dst=\(rig.otherPeer)", "reason=no-rule").count == 3)
        #expect(try await AgentRig.eventually(timeout: 10) { rig.cgroups().isEmpty }, "left: \(rig.cgroups())")
    }

    @Test func aRunThatOutlivesItsRelayKeepsItsCgroupUntilItEnds() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let marker = RunTeardownTests.marker()
        let run = try rig.startRun(["--verbose", "--pids", "64", "--", "sleep", marker])
        defer { run.kill() }
        // Started as far as airlock run knows (its --verbose line), or it could not reattach.
        let up = try await AgentRig.eventually { run.stderrText.contains("tester runs as agent tester") }
        try #require(up, "\(run.stderrText) \(rig.relayLog.suffix(8))")
        let leaves = rig.cgroups()
        #expect(!leaves.isEmpty)
        rig.relay.signal(SIGKILL)
        _ = try await rig.relay.waitForExit(timeout: 20)
        try await rig.startRelay()
        #expect(rig.cgroups() == leaves, "the next relay's sweep keeps a live run's cgroup")
        #expect(rig.relayLines("cgroups_swept", "kept=").count == 1, "\(rig.relayLog.prefix(6))")
        #expect(try await AgentRig.eventually(timeout: 30) { run.stderrText.contains("airlock: reattached tester to the relay\n") }, "\(run.stderrText)")
        run.signal(SIGINT)
        #expect(try await run.waitForExit(timeout: 20) == 130)
        #expect(try await AgentRig.eventually(timeout: 10) { rig.cgroups().isEmpty }, "the reattached run's cgroup goes with it: \(rig.cgroups())")
    }

    @Test func everyRunLogsItsLimitsAndHelpSaysWhatThisMachineEnforces() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let r = try await rig.run(["--", "true"])
        #expect(r.status == 0, "\(r.stderr)")
        let layout = CgroupLayout.current()
        let limits = try #require(rig.relayLines("run_limits", "run=tester").first, "\(rig.relayLog.suffix(8))")
        #expect(limits.contains(try layout.plan(RunLimits()).description), "\(limits)")
        let help = try await rig.airlockCommand(["run", "--help"])
        #expect(help.status == 0 && help.stdout.split(separator: "\n").last.map(String.init) == layout.onThisMachine, "\(help.stdout.suffix(200))")
        // A relay that stops with no run left removes its airlock-<prefix> directories.
        rig.relay.signal(SIGTERM)
        #expect(try await rig.relay.waitForExit(timeout: 20) == 0)
        let parents = layout.hierarchies.map { "\($0)/\(RunCgroup.parentName(prefix: rig.prefix))" }
        #expect(parents.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "\(parents)")
    }
}
