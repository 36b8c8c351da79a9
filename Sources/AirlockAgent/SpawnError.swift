#if canImport(Glibc)
import Glibc
#endif
internal import CAirlockShims

/// The step of a launch that failed: one per system call between the parent's `pipe2` and the
/// command's `execve` (see `airlock_spawn` in CAirlockShims), plus the lookup done before.
public enum SpawnStage: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case invalid = 1, pipe, clone, read, closeDescriptors, signals, setnsNet, setnsMount
    case setgroups, setresgid, boundingSet, setresuid, capset, noNewPrivs, parentDeathSignal
    case fork, chdir, setsid, stdio, execve
    case seccomp, controllingTerminal, cgroup, unshareMount

    /// The C call the stage is named after, as it appears in error messages.
    public var description: String {
        switch self {
        case .invalid: return "spawn"
        case .pipe: return "pipe2"
        case .clone: return "clone3"
        case .read: return "read"
        case .closeDescriptors: return "close_range"
        case .signals: return "sigaction"
        case .setnsNet, .setnsMount: return "setns"
        case .setgroups: return "setgroups"
        case .setresgid: return "setresgid"
        case .boundingSet: return "prctl(PR_CAPBSET_DROP)"
        case .setresuid: return "setresuid"
        case .capset: return "capset"
        case .noNewPrivs: return "prctl(PR_SET_NO_NEW_PRIVS)"
        case .parentDeathSignal: return "prctl(PR_SET_PDEATHSIG)"
        case .fork: return "fork"
        case .chdir: return "chdir"
        case .setsid: return "setsid"
        case .stdio: return "dup2"
        case .execve: return "execve"
        case .seccomp: return "seccomp"
        case .controllingTerminal: return "ioctl(TIOCSCTTY)"
        case .cgroup: return "joining the run's cgroup"
        case .unshareMount: return "unshare(CLONE_NEWNS)"
        }
    }
}

/// Why an agent command was not started. Whenever `AgentProcess.spawn` throws, nothing it started
/// is left running (design §2 invariant 10: if any isolation step fails, the command does not run).
public enum SpawnError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed at `stage`; `call` names it with its argument (`execve("/usr/bin/x")`).
    case system(stage: SpawnStage, call: String, code: Int32)
    /// No executable of that name in any absolute directory of `searched` (the agent's PATH).
    case commandNotFound(String, searched: String)
    /// The spec asks for uid 0 or gid 0; agents never run as root (design §2 invariant 2).
    case rootRefused(uid: UInt32, gid: UInt32)
    /// The network namespace given is the host's or the launcher's own.
    case hostNamespace(String)
    /// An argument, variable or path cannot be passed to execve (empty, NUL byte, `=` in a name).
    case invalidArgument(String)

    /// The failing stage, for `.system`.
    public var stage: SpawnStage? {
        if case .system(let stage, _, _) = self { return stage }
        return nil
    }

    /// The errno value, for `.system`.
    public var code: Int32? {
        if case .system(_, _, let code) = self { return code }
        return nil
    }

    public var description: String {
        switch self {
        case .system(_, let call, let code):
            return "cannot start agent: \(call): \(String(cString: strerror(code)))"
        case .commandNotFound(let name, let searched):
            return "cannot start agent: \(name): command not found (PATH=\(searched))"
        case .rootRefused(let uid, let gid):
            return "cannot start agent: refusing uid \(uid) gid \(gid): an agent never runs as root "
                + "(run airlock through sudo as yourself, or create the airlock-agent user with `make deps`)"
        case .hostNamespace(let ns):
            return "cannot start agent: \(ns) is the host's network namespace, not an agent's"
        case .invalidArgument(let what):
            return "cannot start agent: \(what)"
        }
    }

    /// The error for a stage reported by `airlock_spawn`, with the spec's values for context.
    static func from(stage rawStage: Int32, code: Int32, spec: ProcessSpec) -> SpawnError {
        let step = Int(rawStage) - Int(AIRLOCK_STAGE_MOUNT_BASE)
        if step >= 0 {
            let what = step < spec.mounts.count ? spec.mounts[step].description : "step \(step)"
            return .system(stage: .unshareMount, call: "sandbox: \(what)", code: code)
        }
        guard let stage = SpawnStage(rawValue: rawStage) else {
            return .system(stage: .invalid, call: "spawn (stage \(rawStage))", code: code)
        }
        let call: String
        switch stage {
        case .invalid where code == EPERM: return .rootRefused(uid: spec.uid, gid: spec.gid)
        case .execve: call = "execve(\(quoted(spec.executable)))"
        case .chdir: call = "chdir(\(quoted(spec.workingDirectory ?? ".")))"
        case .setnsNet: call = "setns(\(spec.network.description))"
        case .setnsMount: call = "setns(mount namespace fd \(spec.mountNamespaceDescriptor ?? -1))"
        case .setresuid: call = "setresuid(\(spec.uid))"
        case .setresgid: call = "setresgid(\(spec.gid))"
        case .setgroups: call = "setgroups([])"
        default: call = stage.description
        }
        return .system(stage: stage, call: call, code: code)
    }

    private static func quoted(_ s: String) -> String { "\"" + s + "\"" }
}
