#if canImport(Glibc)
import Glibc
#endif
import AirlockNet
import Synchronization
internal import CAirlockShims

/// A running agent command, isolated as design §2 and §4 require.
///
/// `spawn` makes this tree: the launcher → an init (C code, pid 1 of a new PID namespace) → the
/// command (pid 2 there, so `echo $$` in `sh -c` prints 2). Both run as the spec's uid/gid with no
/// supplementary groups, no capabilities (effective, permitted, inheritable, ambient, bounding),
/// `no_new_privs`, in the spec's network namespace, and the command gets only descriptors 0, 1, 2.
///
/// The init forwards SIGTERM, SIGINT and SIGHUP to the command, reaps orphans, and exits with the
/// command's status. When the init dies, for any reason, the kernel kills every process in its PID
/// namespace, double-forked daemons included; when the launcher process dies, the init gets
/// SIGKILL (PR_SET_PDEATHSIG; spawns happen on one long-lived thread so that this fires only then).
///
/// Until the sandbox gives the agent a mount namespace with its own /proc, /proc is the host's:
/// `$$` is 2, but `/proc/2` is some host process. `/proc/self` is right either way.
///
/// Threads: every method may be called from any thread. Dropping the last reference to an agent
/// that was not reaped kills and reaps it, so no agent outlives its handle unless `release()`d.
public final class AgentProcess: Sendable {
    /// The init's pid in the launcher's PID namespace.
    public let pid: Int32
    /// A pidfd for the init, owned (close-on-exec, closed on deinit): readable once it has exited.
    /// Borrow it to register with an event loop; never close it.
    public let pidfd: Int32
    let statusLock = Mutex<ExitStatus?>(nil)
    private let kept = Atomic<Bool>(false)

    private init(pid: Int32, pidfd: Int32) {
        self.pid = pid; self.pidfd = pidfd
    }

    /// Lets the agent outlive this handle (a run whose relay stops; its lifeline ends it): the
    /// handle's end no longer kills it. Its status then goes to whoever reaps it.
    public func release() { kept.store(true, ordering: .releasing) }

    deinit {
        if !kept.load(ordering: .acquiring) && statusLock.withLock({ $0 }) == nil {
            _ = airlock_pidfd_send_signal(pidfd, SIGKILL)
            _ = reap(blocking: true)
        }
        close(pidfd)
    }

    // MARK: Starting

    /// Starts `spec` and returns once the command has called execve. Blocks the calling thread for
    /// that long (a few milliseconds); from async code call it where blocking is acceptable.
    ///
    /// Fails closed: throws before anything runs when the spec asks for root, names the host's
    /// network namespace, or holds what execve cannot carry; throws the failing stage and errno
    /// when any step in the child fails (then nothing is left running), e.g.
    /// `cannot start agent: execve("/usr/bin/nope"): No such file or directory`.
    public static func spawn(_ spec: ProcessSpec) throws(SpawnError) -> AgentProcess {
        try check(spec)
        return try withCSpec(spec) { (cspec) throws(SpawnError) -> AgentProcess in
            let outcome = SpawnThread.shared.run { launch(cspec) }
            return try finish(outcome, spec: spec)
        }
    }

    /// `spawn` from the calling thread instead of the spawn thread: the agent then dies when this
    /// thread exits. Only for tests of exactly that.
    static func spawnOnCallingThread(_ spec: ProcessSpec) throws(SpawnError) -> AgentProcess {
        try check(spec)
        return try withCSpec(spec) { (cspec) throws(SpawnError) -> AgentProcess in
            try finish(launch(cspec), spec: spec)
        }
    }

    private struct Outcome { var pid: Int32; var pidfd: Int32; var stage: Int32; var code: Int32 }

    private static func check(_ spec: ProcessSpec) throws(SpawnError) {
        try spec.validate()
        let isHost: Bool
        do { isHost = try spec.network.isHost() } catch {
            throw .system(stage: .setnsNet, call: "stat(\(spec.network.description))",
                          code: error.systemCode ?? EINVAL)
        }
        if isHost { throw .hostNamespace(spec.network.description) }
    }

    private static func launch(_ cspec: UnsafePointer<airlock_spawn_spec>) -> Outcome {
        var o = Outcome(pid: -1, pidfd: -1, stage: 0, code: 0)
        o.pid = airlock_spawn(cspec, &o.pidfd, &o.stage, &o.code)
        return o
    }

    private static func finish(_ o: Outcome, spec: ProcessSpec) throws(SpawnError) -> AgentProcess {
        guard o.pid > 0 else { throw SpawnError.from(stage: o.stage, code: o.code, spec: spec) }
        return AgentProcess(pid: o.pid, pidfd: o.pidfd)
    }

    /// Builds the C spec (argv and envp as C strings) for the duration of `body`.
    private static func withCSpec<T>(_ spec: ProcessSpec,
                                     _ body: (UnsafePointer<airlock_spawn_spec>) throws(SpawnError) -> T) throws(SpawnError) -> T {
        let argv = CStringArray(spec.arguments)
        let envp = CStringArray(spec.environmentStrings)
        defer { argv.free(); envp.free() }
        let path = strdup(spec.executable)!
        defer { free(path) }
        let cwd = spec.workingDirectory.map { strdup($0)! }
        defer { if let cwd { free(cwd) } }
        var c = airlock_spawn_spec()
        c.path = UnsafePointer(path)
        c.argv = UnsafePointer(argv.pointers)
        c.envp = UnsafePointer(envp.pointers)
        c.cwd = cwd.map { UnsafePointer($0) }
        c.cwd_fd = spec.workingDirectoryDescriptor ?? -1
        c.exec_fd = spec.executableDescriptor ?? -1
        c.netns_fd = spec.network.descriptor
        c.mntns_fd = spec.mountNamespaceDescriptor ?? -1
        c.life_fd = spec.lifeline ?? -1
        c.stdio = (spec.stdin, spec.stdout, spec.stderr)
        c.uid = spec.uid
        c.gid = spec.gid
        c.flags = (spec.newSession ? AIRLOCK_SPAWN_NEW_SESSION : 0)
            | (spec.allowRootForTesting ? AIRLOCK_SPAWN_ALLOW_ROOT : 0)
            | (spec.lifelineCarriesSignals ? AIRLOCK_SPAWN_LIFE_SIGNALS : 0)
            | (spec.seccomp ? AIRLOCK_SPAWN_SECCOMP : 0)
            | (spec.controllingTerminal ? AIRLOCK_SPAWN_CONTROLLING_TTY : 0)
        // Strings of the mount steps and watches, freed after the call.
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { Glibc.free($0) } }
        func keep(_ s: String?) -> UnsafePointer<CChar>? {
            guard let s else { return nil }
            let p = strdup(s)!
            strings.append(p)
            return UnsafePointer(p)
        }
        let mounts = spec.mounts.map { m in
            airlock_mount_op(kind: m.kind.rawValue, source: keep(m.source), source_fd: m.sourceDescriptor ?? -1,
                             target: keep(m.target), data: keep(m.data), mode: m.mode, flags: m.flags.rawValue, device: m.device)
        }
        let watches = spec.watches.map { w in
            airlock_limit_watch(fd: w.descriptor, key: keep(w.key), bound: w.bound, reason: w.reason.rawValue)
        }
        c.kill_fd = spec.killDescriptor ?? -1
        c.timeout_ms = spec.timeoutMilliseconds ?? 0
        // The namespace object must outlive the call that borrows its descriptor.
        return try withExtendedLifetime(spec.network) { () throws(SpawnError) -> T in
            try mounts.withUnsafeBufferPointer { (m) throws(SpawnError) -> T in
                try watches.withUnsafeBufferPointer { (w) throws(SpawnError) -> T in
                    try spec.cgroupJoin.withUnsafeBufferPointer { (g) throws(SpawnError) -> T in
                        c.mounts = m.baseAddress; c.mount_count = Int32(m.count)
                        c.watches = w.baseAddress; c.watch_count = Int32(w.count)
                        c.cgroup_fds = g.baseAddress; c.cgroup_count = Int32(g.count)
                        return try body(&c)
                    }
                }
            }
        }
    }
}

/// A NULL-terminated array of strdup'd C strings, freed explicitly.
private struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: count + 1)
        for (i, s) in strings.enumerated() { pointers[i] = strdup(s) }
        pointers[count] = nil
    }

    func free() {
        for i in 0..<count { Glibc.free(pointers[i]) }
        pointers.deallocate()
    }
}

extension NetError {
    /// The errno value behind a system-call failure.
    var systemCode: Int32? {
        if case .system(let e) = self { return e.code }
        return nil
    }
}
