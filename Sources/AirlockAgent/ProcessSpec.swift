#if canImport(Glibc)
import Glibc
#endif
import AirlockNet

/// What `AgentProcess.spawn` runs, as whom and where.
///
/// Descriptors are borrowed: the caller keeps them open until `spawn` returns (the spawned command
/// holds its own copies afterwards). The namespace object keeps its descriptor alive as long as the
/// spec lives.
public struct ProcessSpec: Sendable {
    /// The program to execve: absolute after `init` looked it up in PATH (or relative when the
    /// command named it with a `/`, resolved against `workingDirectory` by the kernel).
    public var executable: String
    /// argv, argv[0] first.
    public var arguments: [String]
    /// The command's whole environment; nothing of the launcher's is inherited implicitly.
    public var environment: [String: String]
    /// Entered as the agent user before execve; nil keeps the launcher's.
    public var workingDirectory: String?
    /// A directory descriptor to enter instead (borrowed), e.g. one the caller of `airlock run`
    /// opened and passed over the control socket: entered before the privilege drop, since
    /// opening it proved the caller's access, and never a path the launcher resolves.
    public var workingDirectoryDescriptor: Int32?
    /// A descriptor of the binary to execute (borrowed; `execveat`), for a program the agent user
    /// may run but whose path it may not traverse (the airlock binary under /root, for the shim).
    /// `executable` is then only for messages.
    public var executableDescriptor: Int32?
    /// The identity the command (and its init) run as. 0 is refused unless `allowRootForTesting`.
    public var uid: UInt32
    public var gid: UInt32
    /// Become the command's 0, 1, 2; -1 means /dev/null. Default: the launcher's own.
    public var stdin: Int32 = 0
    public var stdout: Int32 = 1
    public var stderr: Int32 = 2
    /// The agent's network namespace. Required: an agent never runs in the host's.
    public var network: NetworkNamespace
    /// A mount namespace to enter as well (borrowed descriptor), for the sandbox; nil for none.
    public var mountNamespaceDescriptor: Int32?
    /// The lifeline (borrowed): one end of a socket pair whose other end the launcher holds.
    /// The tree ends when the launcher closes its end, and not when the spawning thread exits
    /// (which is what ends it without one). See `airlock_spawn` in CAirlockShims.h.
    public var lifeline: Int32?
    /// Through the lifeline the launcher sends signals to forward, and the init sends the exit
    /// status back; otherwise the init only watches it.
    public var lifelineCarriesSignals = false
    /// Runs the command in a new session (setsid): no controlling terminal, so it cannot read the
    /// launcher's terminal or inject input into it. On by default.
    public var newSession = true
    /// Installs the agent syscall filter (`airlock_seccomp_install`) right before execve.
    public var seccomp = false
    /// stdin is a terminal that becomes the command's controlling terminal (TIOCSCTTY).
    public var controllingTerminal = false
    /// The sandbox's mount namespace, built by the init in this order; empty for none.
    /// Descriptors in the steps are borrowed like the others.
    public var mounts: [MountStep] = []
    /// cgroup.procs files (open for writing, borrowed) the init joins before it forks.
    public var cgroupJoin: [Int32] = []
    /// cgroup.kill of the run's v2 cgroup (open for writing, borrowed), used by the init when a
    /// bound is hit.
    public var killDescriptor: Int32?
    /// Bounds the init watches.
    public var watches: [LimitWatch] = []
    /// Kill the tree this many milliseconds after it started; nil for never.
    public var timeoutMilliseconds: Int64?
    /// Lets uid 0 / gid 0 through, only so tests can check what such a process could do.
    /// Product code never sets it.
    public var allowRootForTesting = false

    /// PATH used when `environment` has none.
    public static let defaultSearchPath = "/usr/local/bin:/usr/bin:/bin"

    /// Makes a spec for `command` (argv; argv[0] looked up through `environment["PATH"]`, see
    /// `lookup`) run as `user` in `network`.
    public init(command: [String], environment: [String: String], workingDirectory: String? = nil,
                user: AgentUser, network: NetworkNamespace) throws(SpawnError) {
        guard let name = command.first else { throw .invalidArgument("empty command") }
        self.executable = try Self.lookup(name, searchPath: environment["PATH"] ?? Self.defaultSearchPath)
        self.arguments = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.uid = user.uid
        self.gid = user.gid
        self.network = network
    }

    /// Finds the program `name` names, as execvp would, but in the parent (the child may not
    /// allocate): a name with a `/` is used as given; otherwise the first regular file with an
    /// execute bit in the absolute directories of `searchPath`. Relative and empty PATH entries
    /// (the current directory) are skipped: they would make the agent's cwd decide what runs.
    public static func lookup(_ name: String, searchPath: String) throws(SpawnError) -> String {
        if name.isEmpty { throw .invalidArgument("empty command name") }
        if name.utf8.contains(0) { throw .invalidArgument("command name contains a NUL byte") }
        if name.contains("/") { return name }
        for dir in searchPath.split(separator: ":", omittingEmptySubsequences: true) where dir.hasPrefix("/") {
            let candidate = String(dir) + (dir.hasSuffix("/") ? "" : "/") + name
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, (st.st_mode & 0o111) != 0 {
                return candidate
            }
        }
        throw .commandNotFound(name, searched: searchPath)
    }

    /// Checks what execve cannot carry: NUL bytes anywhere, empty or `=`-containing names.
    func validate() throws(SpawnError) {
        if arguments.isEmpty { throw .invalidArgument("empty argument list") }
        if executable.isEmpty || executable.utf8.contains(0) { throw .invalidArgument("invalid executable path") }
        for (i, arg) in arguments.enumerated() where arg.utf8.contains(0) {
            throw .invalidArgument("argument \(i) contains a NUL byte")
        }
        for (key, value) in environment {
            if key.isEmpty || key.contains("=") || key.utf8.contains(0) {
                throw .invalidArgument("invalid environment variable name \"\(key)\"")
            }
            if value.utf8.contains(0) { throw .invalidArgument("environment variable \(key) contains a NUL byte") }
        }
        if let cwd = workingDirectory, cwd.isEmpty || cwd.utf8.contains(0) {
            throw .invalidArgument("invalid working directory")
        }
        if !allowRootForTesting && (uid == 0 || gid == 0) { throw .rootRefused(uid: uid, gid: gid) }
    }

    /// `KEY=value` strings, sorted by key so the agent sees a stable order.
    var environmentStrings: [String] {
        environment.sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value }
    }
}
