import Foundation
import Synchronization
import Testing
import AirlockNet
@testable import AirlockAgent

/// Privileged: real namespaces and uid changes. Every test makes its own namespace and deletes it,
/// and leaves no agent process behind.
@Suite(.enabled(if: Privileged.shouldRun, Comment(rawValue: Privileged.missing ?? "")))
struct AgentProcessTests {
    @Test func runsAsTheGivenUserWithoutSupplementaryGroups() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let (out, status) = try runCapturing(spec(["id"], in: s.namespace))
        #expect(status == .exited(0))
        #expect(out.hasPrefix("uid=65534("), "\(out)")
        #expect(out.contains(" gid=65534("), "\(out)")
        let groups = try #require(out.split(separator: " ").first { $0.hasPrefix("groups=") })
        #expect(groups.hasPrefix("groups=65534(") && !groups.contains(","), "\(out)")
    }

    /// The account `make deps` creates; under CI it must exist.
    @Test func runsAsTheSystemAgentAccount() throws {
        try Privileged.requirePrivilege()
        guard let user = try? AgentUser.resolve(sudoEnv: [:]) else {
            #expect(!Privileged.isCI, "airlock-agent is missing: make deps creates it")
            return
        }
        let s = try ScratchNamespace(); defer { s.finish() }
        var sp = try spec(["id", "-u"], in: s.namespace)
        sp.uid = user.uid; sp.gid = user.gid
        let (out, status) = try runCapturing(sp)
        #expect(status == .exited(0) && out == "\(user.uid)\n")
        #expect(user.uid != 0 && user.gid != 0)
    }

    @Test func hasNoCapabilitiesAndNoNewPrivs() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let (out, status) = try runCapturing(spec(["cat", "/proc/self/status"], in: s.namespace))
        #expect(status == .exited(0))
        let fields = statusFields(out)
        #expect(fields["NoNewPrivs"] == "1")
        for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(fields[cap] == "0000000000000000", "\(cap): \(fields[cap] ?? "missing")")
        }
        #expect(fields["Uid"]?.split(separator: "\t") == ["65534", "65534", "65534", "65534"])
        #expect(fields["Gid"]?.split(separator: "\t") == ["65534", "65534", "65534", "65534"])
        #expect(fields["Groups"] == "")
    }

    /// With the test-only flag, uid 0 runs, yet the empty bounding set leaves it no capability.
    @Test func rootAllowedForTestingStillHasNoCapabilities() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        var sp = try spec(["cat", "/proc/self/status"], in: s.namespace)
        sp.uid = 0; sp.gid = 0; sp.allowRootForTesting = true
        let (out, status) = try runCapturing(sp)
        #expect(status == .exited(0))
        let fields = statusFields(out)
        #expect(fields["Uid"]?.hasPrefix("0\t") == true)
        for cap in ["CapPrm", "CapEff", "CapBnd"] { #expect(fields[cap] == "0000000000000000", "\(cap)") }
        #expect(fields["NoNewPrivs"] == "1")
    }

    @Test func refusesRoot() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        for (uid, gid) in [(UInt32(0), UInt32(65534)), (65534, 0), (0, 0)] {
            var sp = try spec(["id"], in: s.namespace)
            sp.uid = uid; sp.gid = gid
            #expect(throws: SpawnError.rootRefused(uid: uid, gid: gid)) { try AgentProcess.spawn(sp) }
        }
        #expect(throws: IdentityError.self) { try AgentUser(uid: 0, gid: 1) }
    }

    @Test func refusesTheHostNamespace() throws {
        try Privileged.requirePrivilege()
        let host = try NetworkNamespace.ofProcess()
        let sp = try spec(["id"], in: host)
        #expect(throws: SpawnError.hostNamespace(host.description)) { try AgentProcess.spawn(sp) }
    }

    @Test func onlyStandardDescriptorsReachTheCommand() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        // A descriptor the launcher leaked (not close-on-exec) must still not reach the agent.
        // F_DUPFD (lowest free from 4000) rather than dup2 to a fixed number, which another
        // thread's open can make fail with EBUSY while it holds that number half-allocated.
        let null = open("/dev/null", O_RDONLY)
        let leaked = fcntl(null, F_DUPFD, 4000)
        close(null)
        try #require(leaked >= 4000, "\(String(cString: strerror(errno)))")
        defer { close(leaked) }
        // `ls` itself holds 3: the directory it is listing.
        let (out, status) = try runCapturing(spec(["ls", "/proc/self/fd"], in: s.namespace))
        #expect(status == .exited(0))
        #expect(out.split(separator: "\n") == ["0", "1", "2", "3"], "\(out)")
        // Seen from outside: the command holds 0, 1, 2 and the init only its signalfd (an
        // inherited pipe end in the init would hide EOF from its reader).
        let p = try AgentProcess.spawn(spec(["sleep", "100"], in: s.namespace))
        defer { p.kill(); _ = p.wait() }
        let children = try String(contentsOfFile: "/proc/\(p.pid)/task/\(p.pid)/children", encoding: .utf8)
        let command = try #require(Int32(children.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Right after execve the dynamic loader briefly holds its own descriptors (ld.so.cache,
        // libc); a descriptor leaked from us would stay.
        #expect(eventually { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(command)/fd").sorted()) == ["0", "1", "2"] })
        let initFDs = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.pid)/fd")
        #expect(initFDs.count == 1, "\(initFDs)")
        #expect(try initFDs.map { try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p.pid)/fd/\($0)") } == ["anon_inode:[signalfd]"])
    }

    @Test func runsInTheGivenNetworkNamespace() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let (out, _) = try runCapturing(spec(["readlink", "/proc/self/ns/net"], in: s.namespace))
        let mine = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        #expect(out == "net:[\(s.namespace.id.inode)]\n")
        #expect(out != mine + "\n")
    }

    /// The command is pid 2 of its PID namespace: the init is 1.
    @Test func commandIsPidTwoOfItsOwnPIDNamespace() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let (out, _) = try runCapturing(spec(["sh", "-c", "echo $$; echo $PPID"], in: s.namespace))
        #expect(out == "2\n1\n")
    }

    @Test func environmentIsExactlyTheSpecs() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        var sp = try spec(["env"], in: s.namespace)
        sp.environment = ["PATH": "/usr/bin:/bin", "FOO": "a b=c"]
        let (out, _) = try runCapturing(sp)
        #expect(out == "FOO=a b=c\nPATH=/usr/bin:/bin\n")
    }

    @Test func newSessionAndNullStdin() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        // /proc/self/stat: field 1 is the pid, field 6 the session (both as the host sees them).
        func pidAndSession(_ newSession: Bool) throws -> (String, String) {
            var sp = try spec(["cat", "/proc/self/stat", "-"], in: s.namespace)
            sp.newSession = newSession
            let (out, status) = try runCapturing(sp)
            #expect(status == .exited(0), "stdin is /dev/null, so `cat -` ends at once")
            let afterComm = out[out.range(of: ") ")!.upperBound...].split(separator: " ")
            return (String(out.split(separator: " ")[0]), String(afterComm[3]))
        }
        let (pid, sid) = try pidAndSession(true)
        #expect(pid == sid)
        let (_, inherited) = try pidAndSession(false)
        #expect(inherited == String(getsid(0)))
    }

    @Test func exitStatusPropagates() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        #expect(try runCapturing(spec(["sh", "-c", "exit 3"], in: s.namespace)).status == .exited(3))
        for (sig, code) in [(SIGTERM, Int32(143)), (SIGHUP, 129), (SIGINT, 130)] {
            let p = try AgentProcess.spawn(spec(["sleep", "100"], in: s.namespace))
            #expect(p.exitStatus == nil)
            p.signal(sig)
            #expect(p.wait() == .exited(code), "signal \(sig)")
            #expect(p.wait().code == code)
        }
        let p = try AgentProcess.spawn(spec(["sleep", "100"], in: s.namespace))
        p.terminate()
        #expect(p.wait() == .exited(143))
        #expect(!p.signal(SIGTERM), "signalling a reaped agent reports it is gone")
    }

    @Test func killingTheInitKillsTheWholeTree() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let (r, w) = try makePipe()
        defer { close(r) }
        var sp = try spec(["sh", "-c", "sh -c 'sleep 100 >/dev/null 2>&1 &'; echo ready; exec sleep 100"],
                          in: s.namespace)
        sp.stdout = w
        let p = try AgentProcess.spawn(sp)
        close(w)
        #expect(readText(r, until: "ready\n") == "ready\n")
        let nsLink = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p.pid)/ns/pid")
        let tree = members(ofPIDNamespace: nsLink)
        // The init, the command and the orphan (reparented to the init).
        #expect(tree.count == 3 && tree.contains(p.pid), "\(tree)")
        let orphans = tree.filter { parentPid(of: $0) == p.pid && $0 != p.pid }
        #expect(orphans.count == 2, "the command and the double-forked sleep are the init's children")
        p.kill()
        #expect(p.wait() == .signaled(SIGKILL))
        #expect(eventually { tree.allSatisfy { Glibc.kill($0, 0) != 0 } }, "left running: \(tree)")
        #expect(members(ofPIDNamespace: nsLink).isEmpty)
    }

    @Test func commandExitEndsItsOrphans() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let p = try AgentProcess.spawn(spec(["sh", "-c", "sleep 100 >/dev/null 2>&1 & exit 5"], in: s.namespace))
        let nsLink = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p.pid)/ns/pid")
        #expect(p.wait() == .exited(5))
        if let nsLink { #expect(eventually { members(ofPIDNamespace: nsLink).isEmpty }) }
    }

    @Test func missingExecutableNamesStageAndErrno() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        var sp = try spec(["/usr/bin/nope"], in: s.namespace)
        let error = #expect(throws: SpawnError.self) { try AgentProcess.spawn(sp) }
        #expect(error?.stage == .execve && error?.code == ENOENT)
        #expect(error?.description == "cannot start agent: execve(\"/usr/bin/nope\"): No such file or directory")

        sp = try spec(["id"], in: s.namespace)
        sp.workingDirectory = "/nonexistent-\(s.name)"
        let chdirError = #expect(throws: SpawnError.self) { try AgentProcess.spawn(sp) }
        #expect(chdirError?.stage == .chdir && chdirError?.code == ENOENT)
        // The working directory is entered as the agent: root's home is closed to nobody.
        sp.workingDirectory = "/root"
        if (try? FileManager.default.attributesOfItem(atPath: "/root")[.posixPermissions] as? Int) == 0o700 {
            let denied = #expect(throws: SpawnError.self) { try AgentProcess.spawn(sp) }
            #expect(denied?.stage == .chdir && denied?.code == EACCES, "\(String(describing: denied))")
        }
        // Not executable for nobody: a root-only script.
        let script = "/tmp/\(s.name).sh"
        _ = FileManager.default.createFile(atPath: script, contents: Data("#!/bin/sh\n".utf8),
                                       attributes: [.posixPermissions: 0o700])
        defer { unlink(script) }
        sp = try spec([script], in: s.namespace)
        let noExec = #expect(throws: SpawnError.self) { try AgentProcess.spawn(sp) }
        #expect(noExec?.stage == .execve && noExec?.code == EACCES)
    }

    @Test func spawnFailureLeavesNothingRunning() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        // The child got as far as execve inside the namespace; nothing may be left in it.
        let netLink = "net:[\(s.namespace.id.inode)]"
        #expect(throws: SpawnError.self) { try AgentProcess.spawn(spec(["/usr/bin/nope"], in: s.namespace)) }
        #expect(processes(inNetworkNamespace: netLink).isEmpty)
        let p = try AgentProcess.spawn(spec(["sleep", "100"], in: s.namespace))
        #expect(processes(inNetworkNamespace: netLink).count == 2, "the probe sees a running agent's init and command")
        p.kill()
        _ = p.wait()
        #expect(processes(inNetworkNamespace: netLink).isEmpty)
    }

    @Test func waitAsyncAndConcurrentWaiters() async throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let p = try AgentProcess.spawn(spec(["sh", "-c", "sleep 0.2; exit 7"], in: s.namespace))
        async let a = p.waitAsync()
        async let b = p.waitAsync()
        let blocking = Thread.detachNewThreadReturning { p.wait() }
        #expect(await a == .exited(7))
        #expect(await b == .exited(7))
        #expect(await blocking.value == .exited(7))
        #expect(p.exitStatus == .exited(7))
    }

    @Test func droppingTheHandleKillsAndReaps() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        var p: AgentProcess? = try AgentProcess.spawn(spec(["sleep", "100"], in: s.namespace))
        let pid = p!.pid
        #expect(Glibc.kill(pid, 0) == 0)
        p = nil
        #expect(Glibc.kill(pid, 0) != 0 && errno == ESRCH, "reaped by deinit")
    }

    /// PR_SET_PDEATHSIG fires when the spawning *thread* exits: spawned from a short-lived thread,
    /// the agent dies with it. (`spawn` uses a thread that never exits, so only the launcher's
    /// death ends agents.)
    @Test func agentDiesWithTheThreadThatSpawnedIt() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let sp = try spec(["sleep", "100"], in: s.namespace)
        let box = Mutex<Result<AgentProcess, SpawnError>?>(nil)
        let t = Thread { box.withLock { $0 = Result { () throws(SpawnError) in try AgentProcess.spawnOnCallingThread(sp) } } }
        t.start()
        #expect(eventually { box.withLock { $0 != nil } })
        let p = try #require(try box.withLock { $0 }?.get())
        var pfd = pollfd(fd: p.pidfd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, 5000)
        if ready != 1 { p.kill(); Issue.record("the agent outlived its spawning thread") }
        #expect(p.wait() == .signaled(SIGKILL))

        // From `spawn`, the same command outlives the thread that asked for it.
        let box2 = Mutex<AgentProcess?>(nil)
        Thread { box2.withLock { $0 = try? AgentProcess.spawn(sp) } }.start()
        #expect(eventually { box2.withLock { $0 != nil } })
        let q = try #require(box2.withLock { $0 })
        usleep(200_000)
        #expect(q.exitStatus == nil)
        q.kill()
        #expect(q.wait() == .signaled(SIGKILL))
    }
}

/// `Key:\tvalue` lines of /proc/PID/status.
func statusFields(_ text: String) -> [String: String] {
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return fields
}

func parentPid(of pid: Int32) -> Int32? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    return statusFields(text)["PPid"].flatMap { Int32($0) }
}

/// Host pids of every process in the network namespace `netLink` (e.g. `net:[4026532…]`).
func processes(inNetworkNamespace netLink: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/ns/net")) == netLink
    }
}

extension Thread {
    /// Runs `body` on a new thread; the task gets its result.
    static func detachNewThreadReturning<T: Sendable>(_ body: @escaping @Sendable () -> T) -> Task<T, Never> {
        Task {
            await withCheckedContinuation { c in Thread { c.resume(returning: body()) }.start() }
        }
    }
}
