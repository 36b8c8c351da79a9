import Testing
import Glibc
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
        #expect(SpawnStage.allCases.map(\.rawValue) == Array(1...20))
    }

    @Test func exitStatusCodes() {
        #expect(AgentProcess.ExitStatus.exited(3).code == 3)
        #expect(AgentProcess.ExitStatus.signaled(SIGKILL).code == 137)
        #expect(AgentProcess.ExitStatus.exited(143).description == "exited with status 143")
        #expect(AgentProcess.ExitStatus.signaled(SIGKILL).description == "killed by signal 9 (Killed)")
    }
}
