import Foundation
import Synchronization
import Testing
import AirlockNet
@testable import AirlockAgent

/// Privileged: an agent tied to its launcher by a lifeline (a SOCK_SEQPACKET pair) instead of
/// PR_SET_PDEATHSIG, as `airlock run` ties a run to itself so it outlives a relay restart.
@Suite(.enabled(if: Privileged.shouldRun, Comment(rawValue: Privileged.missing ?? "")))
struct AgentProcessLifelineTests {
    /// A fresh pair: (the launcher's end, the agent's end), both close-on-exec.
    static func lifeline() throws -> (launcher: Int32, agent: Int32) {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        return (pair[0], pair[1])
    }

    /// Waits up to 5 s for a message on `fd`: its bytes, empty at end of file, nil on timeout.
    static func receive(_ fd: Int32) -> [UInt8]? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 5000) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 16)
        let n = recv(fd, &buf, buf.count, 0)
        return n < 0 ? nil : Array(buf[0..<n])
    }

    /// Spawns `command` with a fresh lifeline; returns the agent and the launcher's end (the
    /// agent's end is closed here, as a launcher does once the spawn returned).
    static func spawn(_ command: [String], in s: ScratchNamespace, signals: Bool) throws -> (AgentProcess, Int32) {
        let (mine, theirs) = try lifeline()
        defer { close(theirs) }
        var sp = try spec(command, in: s.namespace)
        sp.lifeline = theirs
        sp.lifelineCarriesSignals = signals
        return (try AgentProcess.spawn(sp), mine)
    }

    static func status(_ bytes: [UInt8]?) -> Int32? {
        guard let bytes, bytes.count == 4 else { return nil }
        return bytes.withUnsafeBytes { $0.load(as: Int32.self) }
    }

    @Test func theStatusComesBackThroughTheLifeline() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let (p, mine) = try Self.spawn(["sh", "-c", "exit 7"], in: s, signals: true)
        defer { close(mine) }
        #expect(Self.status(Self.receive(mine)) == 7)
        #expect(p.wait() == .exited(7))
        #expect(Self.receive(mine) == [], "then end of file: the init held the only other copy")
    }

    @Test func signalsSentThroughTheLifelineReachTheCommand() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        for (sig, expected) in [(SIGTERM, Int32(143)), (SIGINT, 130), (SIGHUP, 129)] {
            let (p, mine) = try Self.spawn(["sleep", "100"], in: s, signals: true)
            defer { close(mine) }
            var byte = UInt8(sig)
            #expect(send(mine, &byte, 1, 0) == 1)
            #expect(Self.status(Self.receive(mine)) == expected, "signal \(sig)")
            #expect(p.wait() == .exited(expected))
        }
        // Other bytes are not signals to forward: SIGKILL (9) through the lifeline does nothing.
        let (p, mine) = try Self.spawn(["sleep", "100"], in: s, signals: true)
        defer { close(mine) }
        var kill9 = UInt8(SIGKILL)
        #expect(send(mine, &kill9, 1, 0) == 1)
        usleep(200_000)
        #expect(p.exitStatus == nil)
        p.kill()
        #expect(p.wait() == .signaled(SIGKILL))
    }

    @Test func closingTheLaunchersEndEndsTheWholeTree() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        for carriesSignals in [true, false] {
            // A double fork: a daemon the command leaves behind must end too.
            let (p, mine) = try Self.spawn(["sh", "-c", "(sleep 101 &) ; sleep 100"], in: s, signals: carriesSignals)
            #expect(eventually { processes(inNetworkNamespace: "net:[\(s.namespace.id.inode)]").count == 4 })
            close(mine)
            #expect(p.wait() == .exited(137), "the init leaves when the launcher does")
            #expect(eventually { processes(inNetworkNamespace: "net:[\(s.namespace.id.inode)]").isEmpty })
        }
    }

    @Test func withALifelineTheSpawningThreadMayEnd() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let (mine, theirs) = try Self.lifeline()
        defer { close(mine) }
        var spec = try spec(["sleep", "100"], in: s.namespace)
        spec.lifeline = theirs
        let sp = spec
        let box = Mutex<Result<AgentProcess, SpawnError>?>(nil)
        let t = Thread { box.withLock { $0 = Result { () throws(SpawnError) in try AgentProcess.spawnOnCallingThread(sp) } } }
        t.start()
        #expect(eventually { box.withLock { $0 != nil } })
        close(theirs)
        let p = try #require(try box.withLock { $0 }?.get())
        usleep(300_000)
        #expect(p.exitStatus == nil, "no PR_SET_PDEATHSIG with a lifeline")
        // Watch-only (no signals carried): a message is not taken as one, and no status is sent.
        var byte = UInt8(SIGTERM)
        #expect(send(mine, &byte, 1, 0) == 1)
        usleep(200_000)
        #expect(p.exitStatus == nil)
        p.kill()
        #expect(p.wait() == .signaled(SIGKILL))
    }

    @Test func aReleasedHandleLetsTheAgentLive() throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        let (spawned, mine) = try Self.spawn(["sleep", "100"], in: s, signals: false)
        var p: AgentProcess? = spawned
        let pid = p!.pid
        p!.release()
        p = nil
        #expect(Glibc.kill(pid, 0) == 0, "still running once its handle is gone")
        close(mine)
        #expect(eventually { processes(inNetworkNamespace: "net:[\(s.namespace.id.inode)]").isEmpty })
        // Not our child any more to reap? It is: reap the zombie so nothing is left.
        var st: Int32 = 0
        _ = waitpid(pid, &st, 0)
    }
}
