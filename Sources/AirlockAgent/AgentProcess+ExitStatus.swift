#if canImport(Glibc)
import Glibc
#endif

extension AgentProcess {
    /// How an agent's init ended, as `waitid` reports it.
    ///
    /// The init exits with the command's exit code, or 128+N when signal N killed the command (the
    /// shell's convention), so a command killed by SIGTERM shows as `.exited(143)`. `.signaled` means
    /// the init itself was killed: by `AgentProcess.kill()`, by the launcher's death
    /// (PR_SET_PDEATHSIG), or by the OOM killer. (Nested: Swift Testing has its own `ExitStatus`.)
    public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        /// The status a shell would report: the exit code, or 128+signal.
        public var code: Int32 {
            switch self {
            case .exited(let code): return code
            case .signaled(let signal): return 128 + signal
            }
        }

        public var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signaled(let signal):
                guard let text = strsignal(signal) else { return "killed by signal \(signal)" }
                return "killed by signal \(signal) (\(String(cString: text)))"
            }
        }
    }
}
