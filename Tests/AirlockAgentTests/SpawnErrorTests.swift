import Testing
import Glibc
import CAirlockShims
@testable import AirlockAgent

struct SpawnErrorTests {
    @Test func messagesNameTheCallAndTheErrno() {
        let e = SpawnError.system(stage: .execve, call: "execve(\"/usr/bin/nope\")", code: ENOENT)
        #expect(e.description == "cannot start agent: execve(\"/usr/bin/nope\"): No such file or directory")
        #expect(e.stage == .execve && e.code == ENOENT)
        let s = SpawnError.system(stage: .setresuid, call: "setresuid(1000)", code: EPERM)
        #expect(s.description == "cannot start agent: setresuid(1000): Operation not permitted")
        #expect(SpawnError.commandNotFound("nope", searched: "/bin").description
                == "cannot start agent: nope: command not found (PATH=/bin)")
        #expect(SpawnError.rootRefused(uid: 0, gid: 0).stage == nil)
        #expect(SpawnError.rootRefused(uid: 0, gid: 0).description.contains("never runs as root"))
    }

    /// The Swift stage numbers are the C enum's.
    @Test func stagesMatchTheCEnum() {
        #expect(SpawnStage.invalid.rawValue == 1)
        #expect(SpawnStage.execve.rawValue == 20)
        #expect(SpawnStage.seccomp.rawValue == 21)
        #expect(SpawnStage.unshareMount.rawValue == 24)
        #expect(SpawnStage.allCases.map(\.rawValue) == Array(1...24))
    }

    @Test func exitStatusCodes() {
        #expect(AgentProcess.ExitStatus.exited(3).code == 3)
        #expect(AgentProcess.ExitStatus.signaled(SIGKILL).code == 137)
        #expect(AgentProcess.ExitStatus.exited(143).description == "exited with status 143")
        #expect(AgentProcess.ExitStatus.signaled(SIGKILL).description == "killed by signal 9 (Killed)")
    }

    /// The C layer refuses root and a missing namespace on its own, before forking anything.
    @Test func cLayerFailsClosed() {
        var c = airlock_spawn_spec()
        let path = strdup("/usr/bin/id")!
        defer { free(path) }
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 2)
        defer { argv.deallocate() }
        argv[0] = path; argv[1] = nil
        c.path = UnsafePointer(path); c.argv = UnsafePointer(argv); c.envp = UnsafePointer(argv + 1)
        c.netns_fd = 0; c.mntns_fd = -1; c.cwd_fd = -1; c.exec_fd = -1; c.life_fd = -1; c.stdio = (-1, -1, -1)
        var pidfd: Int32 = 0, stage: Int32 = 0, code: Int32 = 0
        for (uid, gid) in [(UInt32(0), UInt32(1)), (1, 0)] {
            c.uid = uid; c.gid = gid
            #expect(airlock_spawn(&c, &pidfd, &stage, &code) == -1)
            #expect(stage == SpawnStage.invalid.rawValue && code == EPERM && pidfd == -1)
        }
        c.uid = 65534; c.gid = 65534; c.netns_fd = -1
        #expect(airlock_spawn(&c, &pidfd, &stage, &code) == -1)
        #expect(stage == SpawnStage.invalid.rawValue && code == EINVAL)
    }
}
