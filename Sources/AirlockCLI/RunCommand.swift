import AirlockAgent
import AirlockCore
import AirlockCrypto
import AirlockIO
#if canImport(Glibc)
import Glibc
#endif

/// `airlock run`: asks the relay (through its control socket) to start CMD in a fresh agent
/// namespace, and stays until CMD ends, returning its exit status.
///
/// The relay builds everything (namespace, veth, identity binding, shim) and starts CMD as the
/// caller (for root: `SUDO_UID`, else `airlock-agent`). This process hands over its stdin,
/// stdout, stderr, working directory and `--key` as open descriptors, forwards SIGINT, SIGTERM
/// and SIGHUP, and holds the connection: when it dies, even by SIGKILL, the relay ends the run.
/// From a terminal it hands over a pty of the agent's own instead and relays it (`RunTerminal`).
enum RunCommand: Command {
    static let name = "run"
    static let summary = "run a command in a fresh agent namespace, reachable only through the relay"
    static let help = """
        usage: airlock run [--name AGENT] [--allow TARGET]... [--forward PORT=SERVICE]...
                           [--workdir DIR] [--rw PATH]... [--ro PATH]...
                           [--timeout DURATION] [--memory SIZE] [--pids N] [--cpu DURATION]
                           [--kill-on-deny N] [--key FILE] [--control PATH] [--verbose] -- CMD [ARGS...]

        Starts CMD in an empty network namespace whose only link leads to the relay, and returns
        CMD's exit status (128+N when signal N ended it). Inside, HTTP_PROXY, HTTPS_PROXY,
        ALL_PROXY and NO_PROXY (and their lowercase forms) point at the agent's shim, so curl,
        git, pip and npm reach the services the policy allows by name (http://web/, web:80).
        Anything else, and any tool that ignores the variables, reaches nothing.

        CMD runs as you: through sudo as SUDO_UID, as root as the airlock-agent account; never
        as uid 0, with no capabilities, no supplementary groups and only descriptors 0-2. Its
        whole process tree ends with it, and everything airlock built for it goes away.

        The sandbox: CMD sees the files of the machine read-only, except the working directory
        (--workdir, default the current one) and --rw paths; a private /tmp, /var/tmp and
        /dev/shm; an empty /run (no host sockets: D-Bus, systemd, docker, tmux, the relay's own); a
        /proc of its own processes only; a /dev of null, zero, full, random, urandom, tty and
        its own ptys; and /etc/resolv.conf naming a stub that refuses every query (names are
        resolved by the relay's exits, never inside). A syscall filter denies vsock and packet
        sockets, io_uring, namespaces and mounts, TIOCSTI and TIOCLINUX, bpf, perf_event_open
        and kernel keyrings.

        From a terminal (stdin a terminal), CMD gets a pty of its own in its own session, which
        airlock run relays with your terminal in raw mode: interactive programs, ^C and window
        size changes work inside, and CMD cannot type into your terminal. Of stdout and stderr,
        those that are not terminals (> file, | pipe) go to CMD as they are. With stdin
        redirected but output on a terminal, CMD's terminal output still goes through a pty of
        its own (output only), so it never holds a descriptor of your terminal. Without any
        terminal CMD gets stdin, stdout and stderr as they are.

        Without sudo, members of group airlock may run the agents the policy gives their uid.

        options:
          --name AGENT           the policy agent to run as (default: your only agent)
          --allow TARGET         only these services or exits (repeatable): narrows what the
                                 policy grants; root's --allow may also grant
          --forward PORT=SERVICE listen on 127.0.0.1:PORT inside and connect straight to
                                 SERVICE (repeatable), for tools that take no proxy
          --workdir DIR          CMD's working directory, writable inside (default: .); relative
                                 --rw and --ro paths are taken from it
          --rw PATH              also writable inside (repeatable)
          --ro PATH              read-only inside even under a writable one (repeatable); it
                                 guards PATH and below, not the names above it: give the top
                                 directory to guard (--ro .git, not .git/hooks)
          --timeout DURATION     kill the tree after this long (90, 90s, 5m, 2h)
          --memory SIZE          memory for the whole tree (512M, 2G); killed when exceeded
          --pids N               processes and threads at once (its init counts: at least 2);
                                 killed when a fork fails
          --cpu DURATION         CPU time for the whole tree; killed when used up
          --kill-on-deny N       kill the tree after N connection attempts the relay's policy
                                 refused (a name that is no service is refused by the shim
                                 and not counted)
          --key FILE             the agent's key (for an agent with a fixed identity); by
                                 default each run gets a fresh identity
          --control PATH         the relay's control socket (default /run/airlock/control.sock)
          --verbose              print what the relay built to stderr

        Limits live in a cgroup per run: cgroup v2, or the hybrid layout (v1 memory, pids and
        cpuacct controllers beside a v2 hierarchy that has cgroup.kill). A limit this machine
        cannot enforce is refused, never ignored; the relay logs the limits in force.

        exit status: CMD's; 137 when a limit or --kill-on-deny killed the tree (the reason on
        stderr); 1 when the run could not start (the reason on stderr); 64 usage.

        examples:
          sudo airlock run --name coder -- curl -s http://web/
          sudo airlock run --workdir ~/src/app --memory 2G --pids 256 --timeout 2h -- claude
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["name", "allow", "forward", "key", "control", "workdir", "rw", "ro",
                                              "timeout", "memory", "pids", "cpu", "kill-on-deny"], flags: ["verbose"])
        if a.wantsHelp {
            Output.out(help)
            Output.out("\n" + CgroupLayout.current().onThisMachine)  // what the limit options can do here
            return 0
        }
        guard a.positionals.isEmpty else {
            throw Arguments.UsageError("unexpected argument \(a.positionals[0]); put the command after --")
        }
        guard !a.rest.isEmpty else { throw Arguments.UsageError("no command given; put it after --, e.g. airlock run -- curl http://web/") }
        for f in a.all("forward") {
            do { _ = try ShimConfig.parseForward(f) } catch { throw Arguments.UsageError(error.description) }
        }
        let limits = try parseLimits(a)
        let path = try ControlCall.path(a)

        // From a terminal: the agent's pty, whose slave replaces the terminal descriptors.
        let terminal = try RunTerminal.open()
        defer { terminal?.finish() }
        var fds: [Int32] = terminal?.stdio ?? [0, 1, 2]
        let cwd = try ControlCall.open(try a.value("workdir") ?? ".", directory: true, what: "the working directory")
        defer { close(cwd) }
        fds.append(cwd)
        var keyFD: Int32 = -1
        if let key = try a.value("key") {
            do { keyFD = try KeyFile.openChecked(key) } catch { throw CommandFailure(error.message) }
            fds.append(keyFD)
        }
        defer { if keyFD >= 0 { close(keyFD) } }
        // Opened here, as the caller: what the agent gets is what the caller could reach.
        var pathFDs: [Int32] = []
        defer { pathFDs.forEach { _ = close($0) } }
        let workdir = try a.value("workdir")
        for (option, p) in a.all("rw").map({ ("rw", $0) }) + a.all("ro").map({ ("ro", $0) }) {
            let fd = try openGrant(p, option: option, workdir: workdir)
            pathFDs.append(fd)
        }
        fds += pathFDs

        var environment: [String: String] = [:]
        var e = environ
        while let entry = e.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { environment[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            e += 1
        }
        let request = ControlProtocol.RunRequest(agent: try a.value("name"), allow: a.all("allow"), forward: a.all("forward"),
                                                 command: a.rest, environment: environment, key: keyFD >= 0,
                                                 rw: a.all("rw"), ro: a.all("ro"), limits: limits, terminal: terminal?.interactive ?? false)

        let loop: EventLoop
        do { loop = try EventLoop() } catch { throw CommandFailure("cannot create the event loop: \(error)") }
        // The lifeline: the run lives as long as our end of it (see ControlProtocol.RunRequest).
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw CommandFailure("cannot create the lifeline: \(Output.errnoText())")
        }
        defer { close(pair[0]) }
        fds.insert(pair[1], at: 4)
        let client: ControlClient
        do {
            // The relay has its copies once the request is sent.
            defer { close(pair[1]); terminal?.closeSlave() }
            client = try ControlCall.connect(path)
            try ControlCall.send(client, "run", request, fds: fds)
        }
        let session = RunSession(loop: loop, path: path, request: request, lifeline: pair[0], terminal: terminal,
                                 verbose: a.has("verbose"))
        return try session.run(client)
    }

    /// Opens a `--rw`/`--ro` path as the caller (`O_PATH`), so what the agent gets is what the
    /// caller can reach. A relative path is taken from `--workdir` when one is given (where the
    /// agent works, as `--ro .git` means), else from the current directory. A `--ro` path whose
    /// last component is a symbolic link is refused: the grant would guard the link's target
    /// while the agent, in a writable directory, could replace the link itself.
    static func openGrant(_ path: String, option: String, workdir: String?) throws(CommandFailure) -> Int32 {
        let full = path.hasPrefix("/") || workdir == nil ? path : workdir! + "/" + path
        var st = stat()
        guard lstat(full, &st) == 0 else { throw CommandFailure("--\(option) \(full): \(Output.errnoText())") }
        if option == "ro" && (st.st_mode & S_IFMT) == S_IFLNK {
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(full, &buf, Int(PATH_MAX))
            let target = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
            throw CommandFailure("--ro \(full) is a symbolic link (to \(target)): the agent could replace the link itself; "
                                 + "guard the directory that holds it, or move what it points to into place")
        }
        let fd = MountStep.openPath(full)
        guard fd >= 0 else { throw CommandFailure("--\(option) \(full): \(Output.errnoText())") }
        return fd
    }

    static func parseLimits(_ a: Arguments) throws(Arguments.UsageError) -> RunLimits {
        func parse<T>(_ name: String, _ f: (String, String) throws(LimitError) -> T) throws(Arguments.UsageError) -> T? {
            guard let v = try a.value(name) else { return nil }
            do { return try f(v, name) } catch { throw Arguments.UsageError(error.description) }
        }
        return RunLimits(timeout: try parse("timeout", RunLimits.parseDuration), memory: try parse("memory", RunLimits.parseSize),
                         pids: try parse("pids") { (t, o) throws(LimitError) in try RunLimits.parseCount(t, option: o, min: 2) },
                         cpu: try parse("cpu", RunLimits.parseDuration),
                         killOnDeny: try parse("kill-on-deny") { (t, o) throws(LimitError) in try RunLimits.parseCount(t, option: o) })
    }
}
