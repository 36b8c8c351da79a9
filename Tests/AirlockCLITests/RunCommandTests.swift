#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockCLI

/// Usage errors of `airlock run`, `attach` and `detach`, without privileges.
struct RunCommandUsageTests {
    @Test func usageErrorsExit64WithTheUsageLine() throws {
        let dir = try TempDir()
        for (args, message) in [
            (["run"], "error: no command given; put it after --, e.g. airlock run -- curl http://web/"),
            (["run", "curl"], "error: unexpected argument curl; put the command after --"),
            (["run", "--forward", "80", "--", "true"], "error: --forward 80: expected PORT=SERVICE"),
            (["run", "--bogus", "--", "true"], "error: unknown option --bogus"),
            (["attach"], "error: give exactly one of --netns NAME and --pid PID"),
            (["attach", "--netns", "a", "--pid", "1"], "error: give exactly one of --netns NAME and --pid PID"),
            (["attach", "--pid", "x"], "error: --pid x: expected a process id"),
            (["attach", "--netns", "../x"], "error: --netns ../x: expected a namespace name, as `ip netns list` shows"),
            (["detach"], "error: the attachment NAME is missing"),
        ] {
            let r = try airlock(args, in: dir)
            #expect(r.status == 64, "\(args)")
            let lines = r.stderr.split(separator: "\n").map(String.init)
            #expect(lines.first == message, "\(args): \(r.stderr)")
            #expect(lines.last?.hasPrefix("usage: airlock \(args[0])") == true, "\(args): \(r.stderr)")
        }
    }

    @Test func withoutARelayTheErrorSaysWhatToDo() throws {
        let dir = try TempDir()
        let r = try airlock(["run", "--control", dir.file("none.sock"), "--", "true"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr == "error: no relay is serving the control socket \(dir.file("none.sock")) (ENOENT (No such file or directory)); start one with `airlock relay` (as root), or give --control PATH\n")
        let d = try airlock(["detach", "x", "--control", dir.file("none.sock")], in: dir)
        #expect(d.status == 1 && d.stderr.hasPrefix("error: no relay is serving the control socket"))
    }

    @Test func aKeyOthersMayReadIsRefusedBeforeConnecting() throws {
        let dir = try TempDir()
        _ = try airlock(["key", "generate", "--out", "k.key"], in: dir)
        chmod(dir.file("k.key"), 0o644)
        let r = try airlock(["run", "--key", "k.key", "--control", dir.file("none.sock"), "--", "true"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr == "error: key file k.key has mode 0644, so other users may read or change it; run: chmod 600 k.key\n")
    }
}

/// Privileged: `airlock run` against a real relay binary, real services and real curl.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct RunCommandTests {
    @Test func curlReachesTheAllowedServiceAndIsRefusedTheRest() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }

        // By name through HTTP_PROXY, and through SOCKS5 with the name resolved remotely.
        let web = try await rig.run(["--", "curl", "-fsS", "-m", "10", "http://web/"])
        #expect(web.status == 0 && web.stdout == AgentRig.webBody.trimmingCharacters(in: .newlines), "\(web.stderr)")
        let socks = try await rig.run(["--", "curl", "-fsS", "-m", "10", "-x", "socks5h://127.0.0.1:1080", "http://web/"])
        #expect(socks.status == 0 && socks.stdout == AgentRig.webBody.trimmingCharacters(in: .newlines), "\(socks.stderr)")
        // A fixed forward, for tools that take no proxy.
        let fwd = try await rig.run(["--forward", "8080=web", "--", "curl", "-fsS", "-m", "10", "--noproxy", "*", "http://127.0.0.1:8080/"])
        #expect(fwd.status == 0 && fwd.stdout == AgentRig.webBody.trimmingCharacters(in: .newlines), "\(fwd.stderr)")
        #expect(!rig.relayLines("circuit_opened", "dst=\(rig.webPeer)").isEmpty)

        // A service the policy does not give this agent: HTTP 403 naming the reason, SOCKS reply
        // 2, and the relay's refusal with the policy's reason.
        let other = try await rig.run(["--", "curl", "-sS", "-m", "10", "-i", "http://other/"])
        #expect(other.status == 0)
        #expect(other.stdout.hasPrefix("HTTP/1.1 403 Forbidden"), "\(other.stdout)")
        #expect(other.stdout.contains("X-Airlock-Reason: denied-by-policy"), "\(other.stdout)")
        #expect(!other.stdout.contains(AgentRig.otherBody.trimmingCharacters(in: .newlines)))
        #expect(rig.relayLines("circuit_refused", "dst=\(rig.otherPeer)", "status=PERMISSION_DENIED", "reason=no-rule").count == 1,
                "\(rig.relayLog.suffix(20))")
        let otherSocks = try await rig.run(["--", "curl", "-sS", "-m", "10", "-x", "socks5h://127.0.0.1:1080", "http://other/"])
        #expect(otherSocks.status == 97, "curl: SOCKS5 connection refused; \(otherSocks.stderr)")
        #expect(otherSocks.stderr.contains("Can't complete SOCKS5 connection to other. (2)"), "reply 2, not allowed: \(otherSocks.stderr)")
        // A name that is no service at all.
        let none = try await rig.run(["--", "curl", "-sS", "-m", "10", "-i", "http://nosuch/"])
        #expect(none.stdout.hasPrefix("HTTP/1.1 403 Forbidden") && none.stdout.contains("X-Airlock-Reason: unknown-service"), "\(none.stdout)")

        // Around the proxies: the host's loopback, where both services listen, and the hub.
        let direct = try await rig.run(["--", "curl", "-sS", "-m", "5", "--noproxy", "*", "http://127.0.0.1:\(rig.webServer.port)/"])
        #expect(direct.status == 7 && direct.stderr.contains("Couldn't connect to server"), "\(direct.stderr)")
        let hub = try await rig.run(["--", "curl", "-sS", "-m", "5", "--noproxy", "*", "http://169.254.1.0:80/"])
        #expect(hub.status == 7 && hub.stderr.contains("Couldn't connect to server"), "\(hub.stderr)")
    }

    @Test func theExitStatusIsTheCommands() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        #expect(try await rig.run(["--", "sh", "-c", "exit 7"]).status == 7)
        #expect(try await rig.run(["--", "true"]).status == 0)
        let killed = try await rig.run(["--", "sh", "-c", "kill -TERM $$"])
        #expect(killed.status == 143 && killed.stderr == "airlock: exited with status 143\n", "\(killed.stderr)")
        for (forward, why) in [("8080=nosuch", "nosuch is not a service in the policy"),
                               ("1080=web", "port 1080 is the shim's own (SOCKS5 1080, HTTP 3128); pick another")] {
            let r = try await rig.run(["--forward", forward, "--", "true"])
            #expect(r.status == 1 && r.stderr == "error: --forward \(forward): \(why)\n", "\(r.stderr)")
        }
        let twice = try await rig.run(["--forward", "8080=web", "--forward", "8080=other", "--", "true"])
        #expect(twice.status == 1 && twice.stderr == "error: --forward 8080=other: 127.0.0.1:8080 is forwarded twice\n", "\(twice.stderr)")
        let missing = try await rig.run(["--", "no-such-command-here"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "error: cannot start agent: no-such-command-here: command not found (PATH=/usr/bin:/bin)\n", "\(missing.stderr)")
        // Each run got its own namespace, and none is left.
        #expect(try rig.namespaces() == [rig.hubName])
    }

    @Test func theAgentRunsUnprivilegedWithOnlyItsOwnDescriptors() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let agent = try #require(getpwnam("airlock-agent")?.pointee)
        let script = "id -u; id -g; id -G; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status; "
            + "ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; pwd; echo \"$HTTP_PROXY $HTTPS_PROXY $ALL_PROXY $NO_PROXY $http_proxy $all_proxy\""
        // As root without sudo: the airlock-agent account.
        let r = try await rig.run(["--", "sh", "-c", script])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map { String($0).replacingOccurrences(of: "\t", with: " ") }
        #expect(lines.count == 12, "\(lines)")
        guard lines.count == 12 else { return }
        #expect(lines[0] == "\(agent.pw_uid)" && lines[1] == "\(agent.pw_gid)" && lines[2] == "\(agent.pw_gid)")
        for (i, name) in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].enumerated() {
            #expect(lines[3 + i] == "\(name): 0000000000000000")
        }
        #expect(lines[8] == "NoNewPrivs: 1")
        #expect(lines[9] == "0 1 2 3 ", "only 0-2, and 3 is ls's own listing: \(lines[9])")
        let cwd = URL(fileURLWithPath: rig.dir.path).standardizedFileURL.path
        #expect(lines[10] == cwd, "the caller's working directory")
        #expect(lines[11] == "http://127.0.0.1:3128 http://127.0.0.1:3128 socks5h://127.0.0.1:1080 localhost,127.0.0.1,::1 http://127.0.0.1:3128 socks5h://127.0.0.1:1080")
        // Through sudo: the invoking user (SUDO_UID/SUDO_GID), still with no supplementary groups.
        let sudo = try await rig.run(["--", "sh", "-c", "id -u; id -G; pwd"], environment: ["SUDO_UID": "4242", "SUDO_GID": "4343", "SUDO_USER": "someone"])
        #expect(sudo.stdout == "4242\n4343\n\(cwd)", "\(sudo.stdout) \(sudo.stderr)")
    }
}

/// Privileged: what is left when a run ends, however it ends (design §2 invariant 8).
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct RunTeardownTests {
    /// A sleep whose command line no other process shares.
    static func marker() -> String { "3600.\(UInt32.random(in: 100_000..<999_999))" }

    /// Starts `sleep MARKER` under `airlock run` and waits until it runs in its namespace.
    static func startSleeper(_ rig: AgentRig, _ marker: String) async throws -> ChildProcess {
        let run = try rig.startRun(["--", "sleep", marker])
        let up = try await AgentRig.eventually {
            try !AgentRig.processes(startingWith: "sleep \(marker)").isEmpty && rig.namespaces().contains(rig.prefix + "-tester")
        }
        try #require(up, "the run did not start: \(run.stderrText) \(rig.relayLog.suffix(10))")
        return run
    }

    @Test func killingRunEvenBySigkillEndsTheAgentAndRemovesItsNamespace() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let marker = Self.marker()
        let run = try await Self.startSleeper(rig, marker)
        let links = try rig.links()
        #expect(links.count == 1, "the hub end of the agent's veth: \(links)")
        run.signal(SIGKILL)
        let gone = try await AgentRig.eventually {
            try AgentRig.processes(startingWith: "sleep \(marker)").isEmpty && rig.namespaces() == [rig.hubName] && rig.links().isEmpty
        }
        #expect(gone, "left: \(AgentRig.processes(startingWith: marker)) \((try? rig.namespaces()) ?? []) \((try? rig.links()) ?? [])")
        // The lifeline ends the command and the shim, and the connection drops: the relay ends
        // the run on whichever it sees first.
        let ended = rig.relayLines("run_ended", "run=tester")
        let reasons = ["launcher gone", "command exited with status 137", "the shim exited with status 137"]
        #expect(ended.count == 1 && reasons.contains { ended[0].contains($0) }, "\(ended) \(rig.relayLog.suffix(10))")
    }

    @Test func sigintAndSigtermOfRunReachTheCommand() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        for (sig, name) in [(SIGTERM, "TERM"), (SIGINT, "INT"), (SIGHUP, "HUP")] {
            let run = try rig.startRun(["--", "sh", "-c", "trap 'echo got-\(name); exit 3' \(name); echo ready; while :; do sleep 0.05; done"])
            _ = try await run.nextLine(timeout: 20, "ready") { $0 == "ready" }
            run.signal(sig)
            #expect(try await run.waitForExit(timeout: 20) == 3, "\(name): \(run.stderrText)")
            #expect(run.stdoutLines == ["ready", "got-\(name)"])
        }
        #expect(try await AgentRig.eventually { try rig.namespaces() == [rig.hubName] })
    }

    @Test func aSecondRelayWithTheSamePrefixTouchesNothing() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let run = try await Self.startSleeper(rig, Self.marker())
        defer { run.kill() }
        let before = try rig.namespaces()
        let second = try await rig.airlockCommand(["relay", "--listen", "127.0.0.1:0", "--key", rig.dir.file("relay.key"),
                                                   "--policy", rig.dir.file("policy.json"), "--hub-prefix", rig.prefix,
                                                   "--control", rig.dir.file("ctl2/control.sock")])
        #expect(second.status == 1)
        #expect(second.stderr == "error: another relay uses the hub prefix \(rig.prefix) (it holds /run/airlock-\(rig.prefix).lock); stop it, or give this one another --hub-prefix\n",
                "\(second.stderr)")
        #expect(try rig.namespaces() == before, "nothing of the live relay was swept")
        #expect(run.isRunning)
    }

    @Test func stoppingTheRelaySuspendsRunsAndRemovesTheHub() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let marker = Self.marker()
        let run = try await Self.startSleeper(rig, marker)
        rig.relay.signal(SIGUSR1)
        #expect(try await AgentRig.eventually { rig.relayLines("relay_counters", "reservations_granted=2", "circuits_live=0").count == 1 },
                "SIGUSR1 logs the counters: \(rig.relayLog.suffix(3))")
        rig.relay.signal(SIGTERM)
        #expect(try await rig.relay.waitForExit(timeout: 20) == 0)
        #expect(rig.relayLines("relay_counters").count == 2, "and so does the stop")
        // The hub, the veth and the namespace's name are gone; the run is not.
        #expect(try rig.namespaces().isEmpty && rig.links().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: rig.control), "the control socket is removed")
        #expect(try await AgentRig.eventually { run.stderrText.contains("airlock: relay stopping: sleep keeps running without network until the relay is back\n") },
                "\(run.stderrText)")
        #expect(run.isRunning && !AgentRig.processes(startingWith: "sleep \(marker)").isEmpty)
        // Its launcher's end still ends it, relay or not.
        run.signal(SIGKILL)
        #expect(try await AgentRig.eventually { AgentRig.processes(startingWith: "sleep \(marker)").isEmpty })
    }

    @Test func aRunKeepsRunningAcrossRelayRestartsAndCrashes() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let run = try rig.startRun(["--", "sh", "-c", "while :; do curl -fsS -m 2 http://web/ >/dev/null && echo ok || echo down; sleep 0.1; done"])
        _ = try await run.nextLine(timeout: 20, "a first fetch") { $0 == "ok" }
        for (n, how) in [(1, SIGTERM), (2, SIGKILL)] {
            rig.relay.signal(how)
            _ = try await rig.relay.waitForExit(timeout: 20)
            _ = try await run.nextLine(timeout: 20, "a failed fetch while the relay is away") { $0 == "down" }
            try await rig.startRelay()
            #expect(try await AgentRig.eventually(timeout: 30) { run.stderrText.components(separatedBy: "airlock: reattached tester to the relay\n").count == n + 1 },
                    "restart \(n): \(run.stderrText) \(rig.relayLog.suffix(10))")
            _ = try await run.nextLine(timeout: 30, "a fetch through the restarted relay") { $0 == "ok" }
            #expect(rig.relayLines("run_reattached", "run=tester").count == 1)
            #expect(try rig.namespaces() == [rig.hubName], "the stale names are swept; the run's namespace is unnamed now")
        }
        #expect(run.isRunning)
        run.signal(SIGINT)
        #expect(try await run.waitForExit(timeout: 20) == 130)
        #expect(try await AgentRig.eventually { try rig.links().isEmpty && AgentRig.processes(startingWith: "sh -c while :; do curl").isEmpty })
    }

    @Test func aRunWhoseLauncherDiesWhileTheRelayIsAwayLeavesNothing() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let marker = Self.marker()
        let run = try await Self.startSleeper(rig, marker)
        rig.relay.signal(SIGKILL)
        _ = try await rig.relay.waitForExit(timeout: 20)
        #expect(!AgentRig.processes(startingWith: "sleep \(marker)").isEmpty, "a crashed relay does not take the run with it")
        run.signal(SIGKILL)
        #expect(try await AgentRig.eventually { AgentRig.processes(startingWith: "sleep \(marker)").isEmpty })
        try await rig.startRelay()
        #expect(try rig.namespaces() == [rig.hubName] && rig.links().isEmpty, "what the crash left is swept")
        #expect(rig.relayLines("hub_started", "swept=\(rig.prefix)-hub,\(rig.prefix)-tester").count == 1
                || rig.relayLines("hub_started", "swept=\(rig.prefix)-tester,\(rig.prefix)-hub").count == 1, "\(rig.relayLog.prefix(3))")
    }
}

/// Privileged: who may run what through the control socket (design §4; issue: without sudo).
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct RunOwnershipTests {
    static let alice = RigUser(uid: 4242, gid: 4242, groups: [RigUser.airlockGroup])
    static let noAgent = RigUser(uid: 4545, gid: 4545, groups: [RigUser.airlockGroup])
    static let outsider = RigUser(uid: 4646, gid: 4646)

    static func rig() async throws -> AgentRig {
        try await AgentRig { _ in
            #"{ "agents": { "tester": { "uid": 0 }, "alice": { "uid": 4242 } }, "rules": [ { "from": "tester", "to": "web" }, { "from": "alice", "to": "web" } ] }"#
        }
    }

    @Test func aMemberOfGroupAirlockRunsItsOwnAgentAsItself() async throws {
        let rig = try await Self.rig(); defer { rig.finish() }
        let r = try await rig.run(["--", "sh", "-c", "id -u; id -G; curl -fsS -m 10 http://web/"], as: Self.alice)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "4242\n4242\n" + AgentRig.webBody.trimmingCharacters(in: .newlines), "no supplementary groups, not even airlock")
        #expect(rig.relayLines("run_started", "run=alice", "agent=alice", "uid=4242").count == 1)
    }

    @Test func aCallerMayNotClaimAnotherUsersAgentNorWidenItsOwn() async throws {
        let rig = try await Self.rig(); defer { rig.finish() }
        let claim = try await rig.run(["--name", "tester", "--", "true"], as: Self.alice)
        #expect(claim.status == 1 && claim.stderr == "error: agent tester belongs to uid 0, not to uid 4242\n", "\(claim.stderr)")
        let widen = try await rig.run(["--allow", "other", "--", "true"], as: Self.alice)
        #expect(widen.status == 1)
        #expect(widen.stderr == "error: --allow other: the policy has no rule from alice to other, and only root's --allow may grant\n")
        let nobody = try await rig.run(["--", "true"], as: Self.noAgent)
        #expect(nobody.status == 1 && nobody.stderr == "error: the policy lists no agent for uid 4545; add one (docs/policy.md)\n")
        let outside = try await rig.run(["--", "true"], as: Self.outsider)
        #expect(outside.status == 1)
        #expect(outside.stderr == "error: cannot reach the control socket \(rig.control) (EACCES (Permission denied)); run as root, or join group airlock (`usermod -aG airlock USER`, then log in again)\n")
        #expect(rig.relayLines("run_started").isEmpty, "nothing was started")
        #expect(try rig.namespaces() == [rig.hubName])

        // Nor end it: alice may not detach root's running agent.
        let marker = RunTeardownTests.marker()
        let run = try await RunTeardownTests.startSleeper(rig, marker)
        let detach = try await rig.airlockCommand(["detach", "tester", "--control", rig.control], as: Self.alice)
        #expect(detach.status == 1)
        #expect(detach.stderr == "error: the relay refused: tester runs agent tester, which belongs to uid 0, not to uid 4242\n")
        #expect(run.isRunning)
        let rootDetach = try await rig.airlockCommand(["detach", "tester", "--control", rig.control])
        #expect(rootDetach.status == 0 && rootDetach.stdout == "detached tester")
        #expect(try await run.waitForExit(timeout: 20) == 137)
    }

    @Test func allowNarrowsAndRootsAllowGrants() async throws {
        let rig = try await Self.rig(); defer { rig.finish() }
        // alice's --allow web: what the policy gives her, and still nothing else.
        let narrow = try await rig.run(["--allow", "web", "--", "curl", "-fsS", "-m", "10", "http://web/"], as: Self.alice)
        #expect(narrow.status == 0 && narrow.stdout == AgentRig.webBody.trimmingCharacters(in: .newlines), "\(narrow.stderr)")
        // Root's --allow other grants a service no rule gives tester, and leaves out web.
        let granted = try await rig.run(["--allow", "other", "--", "curl", "-fsS", "-m", "10", "http://other/"])
        #expect(granted.status == 0 && granted.stdout == AgentRig.otherBody.trimmingCharacters(in: .newlines), "\(granted.stderr)")
        let cut = try await rig.run(["--allow", "other", "--", "curl", "-sS", "-m", "10", "-i", "http://web/"])
        #expect(cut.stdout.hasPrefix("HTTP/1.1 403 Forbidden") && cut.stdout.contains("X-Airlock-Reason: denied-by-policy"), "\(cut.stdout)")
        #expect(rig.relayLines("circuit_refused", "dst=\(rig.webPeer)", "reason=outside-run-scope").count == 1, "\(rig.relayLog.suffix(10))")
        let unknown = try await rig.run(["--allow", "nosuch", "--", "true"])
        #expect(unknown.status == 1 && unknown.stderr == "error: --allow nosuch: no service or exit of that name in the policy\n")
    }

    @Test func throughSudoTheDefaultAgentIsTheSudoUsers() async throws {
        let rig = try await Self.rig(); defer { rig.finish() }
        let r = try await rig.run(["--", "id", "-u"], environment: ["SUDO_UID": "4242", "SUDO_GID": "4242"])
        #expect(r.status == 0 && r.stdout == "4242", "\(r.stderr)")
        #expect(rig.relayLines("run_started", "agent=alice", "uid=4242").count == 1, "\(rig.relayLog.suffix(5))")
        let own = try await rig.run(["--", "true"])
        #expect(own.status == 0 && rig.relayLines("run_started", "agent=tester").count == 1, "root's own agent without sudo")
    }

    @Test func aFixedIdentityAgentRunsOnlyWithItsKey() async throws {
        let rig = try await AgentRig { rig in
            let peer = (try? AgentRig.key(rig.dir, "fixed.key")) ?? ""
            return #"{ "agents": { "fixed": { "uid": 0, "identity": "\#(peer)" } }, "rules": [ { "from": "fixed", "to": "web" } ] }"#
        }
        defer { rig.finish() }
        let fixedPeer = try #require(try rig.dir.read("policy.json").split(separator: "\"").first { $0.hasPrefix("12D3") && $0 != rig.webPeer && $0 != rig.otherPeer })
        let without = try await rig.run(["--", "true"])
        #expect(without.status == 1 && without.stderr == "error: agent fixed has the fixed identity \(fixedPeer): give its key with --key\n", "\(without.stderr)")
        let wrong = try await rig.run(["--key", "web.key", "--", "true"])
        #expect(wrong.status == 1 && wrong.stderr == "error: the key given is \(rig.webPeer), but agent fixed is \(fixedPeer)\n", "\(wrong.stderr)")
        let right = try await rig.run(["--key", "fixed.key", "--", "curl", "-fsS", "-m", "10", "http://web/"])
        #expect(right.status == 0 && right.stdout == AgentRig.webBody.trimmingCharacters(in: .newlines), "\(right.stderr)")
        #expect(!rig.relayLines("agent_connected", "agent=fixed", "peer=\(fixedPeer)").isEmpty)
    }
}
