#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import AirlockAgent
import AirlockIO

/// Privileged: `airlock run` started from a terminal the test owns (a pty whose slave is run's
/// controlling terminal, as a shell would leave it), and without one.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct RunTerminalTests {
    @Test func theAgentGetsAPtyOfItsOwnInASessionOfItsOwn() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let term = try TestTerminal(rows: 37, columns: 101)
        defer { term.close() }
        let before = try term.mode()
        let script = "tty; [ -t 0 ] && echo stdin-is-a-tty; stty size; echo agent-ready; read line; echo got:$line"
        let run = try term.start(rig, ["--", "sh", "-c", script])
        defer { run.kill() }
        let ready = try await term.waitFor("agent-ready")
        let lines = ready.components(separatedBy: "\r\n")
        let ttyPath = try #require(lines.first { $0.hasPrefix("/dev/") }, "\(ready)")
        // The sandbox has a devpts of its own; the run's pty is bound where ttyname finds it.
        #expect(ttyPath == "/dev/airlock-tty", "\(ready)")
        #expect(lines.contains("stdin-is-a-tty"), "\(ready)")
        #expect(lines.contains("37 101"), "stty size inside is the size of the test's terminal: \(ready)")

        // From outside: the agent leads a session of its own whose controlling terminal is its
        // pty, not the test's terminal, which stays run's.
        let agent = try #require(AgentRig.processes(startingWith: "sh -c \(script)").first, "the agent's sh")
        let procStat = try #require(ProcStat(pid: agent))
        #expect(getsid(agent) == agent, "the agent is a session leader")
        #expect(getsid(agent) != getsid(run.pid), "not in run's session")
        #expect(getsid(run.pid) == run.pid, "run leads the test terminal's session")
        var agentPty = stat()
        try #require(stat("/proc/\(agent)/fd/0", &agentPty) == 0)
        #expect(Device(ttyNumber: procStat.ttyNumber) == Device(rdev: agentPty.st_rdev), "the agent's controlling terminal is its own pty")
        #expect(Device(ttyNumber: procStat.ttyNumber) != term.device, "and not the test's terminal")
        #expect(tcgetpgrp(term.pair.master) == getpgid(run.pid), "the test terminal's foreground is still run")

        // Typed input reaches an interactive program.
        term.type("hello there\r")
        _ = try await term.waitFor("got:hello there")
        #expect(try await run.exit() == 0, "\(term.text)")
        #expect(try term.mode() == before, "run put the terminal's mode back")
    }

    @Test func anInteractiveShellHasJobControl() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let term = try TestTerminal(rows: 24, columns: 80)
        defer { term.close() }
        let run = try term.start(rig, ["--", "bash", "--norc", "--noprofile", "-i"], environment: ["PS1": "agent$ "])
        defer { run.kill() }
        _ = try await term.waitFor("agent$ ")
        term.type("sleep 100 & jobs; echo answer-$((6 * 7))\r")
        _ = try await term.waitFor("answer-42\r\n")
        term.type("kill %1; exit 5\r")
        #expect(try await run.exit() == 5, "\(term.text)")
        #expect(!term.text.contains("no job control"), "bash owns its terminal: \(term.text)")
        #expect(term.text.contains("Running"), "jobs lists the background job: \(term.text)")
    }

    @Test func windowSizeChangesReachTheAgentAndControlCInterruptsIt() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let term = try TestTerminal(rows: 24, columns: 80)
        defer { term.close() }
        let before = try term.mode()
        let run = try term.start(rig, ["--", "sh", "-c", "trap 'echo winch; stty size' WINCH; echo loop-ready; while :; do sleep 0.05; done"])
        defer { run.kill() }
        _ = try await term.waitFor("loop-ready")
        // The kernel sends SIGWINCH to the foreground group of the test's terminal, that is run,
        // which passes the size on; the agent's pty signals the agent.
        term.resize(rows: 50, columns: 132)
        _ = try await term.waitFor("winch\r\n50 132")
        term.resize(rows: 10, columns: 40)
        _ = try await term.waitFor("winch\r\n10 40")
        term.type("\u{03}")
        #expect(try await run.exit() == 130, "^C is a byte for the agent's pty, whose SIGINT ends sh: \(term.text)")
        #expect(try term.mode() == before)
    }

    @Test func controlCInterruptsASleep() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let term = try TestTerminal(rows: 24, columns: 80)
        defer { term.close() }
        let before = try term.mode()
        let marker = "100.\(UInt32.random(in: 100_000..<999_999))"
        let run = try term.start(rig, ["--", "sleep", marker])
        defer { run.kill() }
        #expect(try await AgentRig.eventually { !AgentRig.processes(startingWith: "sleep \(marker)").isEmpty }, "\(term.text)")
        term.type("\u{03}")
        #expect(try await run.exit() == 130, "\(term.text)")
        _ = try await term.waitFor("airlock: exited with status 130\r\n")
        #expect(AgentRig.processes(startingWith: "sleep \(marker)").isEmpty)
        #expect(try term.mode() == before)
    }

    @Test func signalsToRunAndFailuresLeaveTheTerminalAsItWas() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let term = try TestTerminal(rows: 24, columns: 80)
        defer { term.close() }
        let before = try term.mode()
        // kill(1) of run itself: forwarded through the lifeline as without a terminal.
        for (sig, name) in [(SIGTERM, "TERM"), (SIGHUP, "HUP"), (SIGINT, "INT")] {
            let run = try term.start(rig, ["--", "sh", "-c", "trap 'echo got-\(name); exit 3' \(name); echo ready-\(name); while :; do sleep 0.05; done"])
            defer { run.kill() }
            _ = try await term.waitFor("ready-\(name)\r\n")
            kill(run.pid, sig)
            #expect(try await run.exit() == 3, "\(name): \(term.text)")
            _ = try await term.waitFor("got-\(name)\r\n")
            #expect(try term.mode() == before, "after SIG\(name)")
        }
        // A run the relay refuses: the error comes after the terminal is back to normal.
        let missing = try term.start(rig, ["--", "no-such-command-here"])
        defer { missing.kill() }
        #expect(try await missing.exit() == 1)
        _ = try await term.waitFor("error: cannot start agent: no-such-command-here: command not found (PATH=/usr/bin:/bin)\r\n")
        #expect(try term.mode() == before)
    }

    @Test func everythingTheAgentPrintedArrives() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let term = try TestTerminal(rows: 24, columns: 80)
        defer { term.close() }
        let run = try term.start(rig, ["--", "sh", "-c", "seq 1 30000; echo the-end"])
        defer { run.kill() }
        #expect(try await run.exit() == 0)
        // Written to the terminal before run exited; the test's reader may still be catching up.
        let text = try await term.waitFor("the-end\r\n")
        #expect(text == (1...30000).map { "\($0)\r\n" }.joined() + "the-end\r\n", "\(text.count) bytes")
    }

    @Test func stdoutRedirectedAwayFromTheTerminalStaysAsGiven() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let term = try TestTerminal(rows: 24, columns: 80)
        defer { term.close() }
        let file = rig.dir.file("out.txt")
        let run = try term.start(rig, ["--", "sh", "-c", "[ -t 0 ] && echo in-tty; [ -t 1 ] || echo out-not-tty; [ -t 2 ] && echo err-tty >&2"],
                                 stdout: file)
        defer { run.kill() }
        #expect(try await run.exit() == 0, "\(term.text)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "in-tty\nout-not-tty\n", "plain newlines: no pty on the way")
        _ = try await term.waitFor("err-tty\r\n")
    }

    /// Stdin redirected, output on the terminal: the agent's output still goes through a pty
    /// of its own, so it can neither change the caller's terminal nor read from it.
    @Test func withStdinRedirectedTheAgentStillHoldsNoDescriptorOfTheTerminal() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let term = try TestTerminal(rows: 24, columns: 80)
        defer { term.close() }
        let before = try term.mode()
        let script = "[ -t 0 ] || echo in-not-tty; [ -t 1 ] && echo out-tty; stty size <&1; stty -echo raw <&1; echo agent-done"
        let run = try term.start(rig, ["--", "sh", "-c", script], stdin: "/dev/null")
        defer { run.kill() }
        #expect(try await run.exit() == 0, "\(term.text)")
        let out = try await term.waitFor("agent-done")
        #expect(out.contains("in-not-tty") && out.contains("out-tty") && out.contains("24 80"), "\(out)")
        #expect(try term.mode() == before, "the agent changed the caller's terminal")
    }

    @Test func theRelayRefusesATerminalRunWithoutATerminal() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        var io: [Int32] = [-1, -1], life: [Int32] = [-1, -1]
        try #require(pipe(&io) == 0 && socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &life) == 0)
        let cwd = open(rig.dir.path, O_RDONLY | O_DIRECTORY)
        defer { ([cwd] + io + life).forEach { _ = close($0) } }
        let client = try ControlClient.connect(path: rig.control)
        defer { client.close() }
        let request = ControlProtocol.RunRequest(agent: nil, command: ["true"], terminal: true)
        try client.send(try ControlMessage.encode(type: "run", body: request), fds: [io[0], io[1], io[1], cwd, life[1]])
        let reply = try #require(try client.receive(timeout: .seconds(10)))
        let failure = try ControlMessage.decode(ControlProtocol.Failure.self, from: reply.bytes)
        #expect(failure.type == "error" && failure.body.message == "a run with a terminal needs a terminal as stdin", "\(failure)")
        #expect(rig.relayLines("run_started").isEmpty)
    }

    @Test func withPipesNothingIsATerminal() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let r = try await rig.run(["--", "sh", "-c", "[ -t 0 ] && echo stdin-tty || echo stdin-not-a-tty; tty || true"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "stdin-not-a-tty\nnot a tty", "\(r.stdout)")
    }
}

/// A pty the test owns, standing in for the terminal `airlock run` is started from, and a
/// reader collecting what run writes to it.
final class TestTerminal: @unchecked Sendable {  // `pair` is fixed; the output is behind a mutex
    let pair: PtyPair
    let slavePath: String
    private let output = Mutex<[UInt8]>([])
    private let stopped = Atomic<Bool>(false)
    private let readerDone = DispatchSemaphore(value: 0)

    init(rows: UInt16, columns: UInt16) throws {
        pair = try PtyPair.open()
        slavePath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(pair.slave)")
        Thread { [self] in readLoop(); readerDone.signal() }.start()
        resize(rows: rows, columns: columns)
    }

    private func readLoop() {
        var buf = [UInt8](repeating: 0, count: 4096)
        var p = pollfd(fd: pair.master, events: Int16(POLLIN), revents: 0)
        while !stopped.load(ordering: .acquiring) {
            guard poll(&p, 1, 50) == 1 else { continue }
            let n = buf.withUnsafeMutableBytes { read(pair.master, $0.baseAddress, $0.count) }
            if n > 0 { output.withLock { $0 += buf[0..<n] } } else if n == 0 || errno != EAGAIN { usleep(10_000) }
        }
    }

    /// Stops the reader, then closes both ends (never under a reader still polling the master,
    /// whose number another test may get next).
    func close() {
        stopped.store(true, ordering: .releasing)
        readerDone.wait()
        Glibc.close(pair.master)
        Glibc.close(pair.slave)
    }

    /// Everything read so far.
    var text: String { output.withLock { String(decoding: $0, as: UTF8.self) } }

    /// The terminal's device number.
    var device: Device {
        var st = stat()
        fstat(pair.slave, &st)
        return Device(rdev: st.st_rdev)
    }

    /// The slave's termios, as bytes to compare.
    func mode() throws -> [UInt8] {
        var t = termios()
        guard tcgetattr(pair.slave, &t) == 0 else { throw ChildProcess.Failure(description: "tcgetattr: \(String(cString: strerror(errno)))") }
        return withUnsafeBytes(of: &t) { Array($0) }
    }

    func resize(rows: UInt16, columns: UInt16) {
        var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(pair.master, UInt(TIOCSWINSZ), &size)
    }

    /// Keys typed at the terminal.
    func type(_ s: String) {
        let bytes = Array(s.utf8)
        _ = bytes.withUnsafeBytes { write(pair.master, $0.baseAddress, $0.count) }
    }

    /// Waits until the output contains `text`; returns the output so far.
    @discardableResult
    func waitFor(_ needle: String, timeout: Double = 20) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let t = text
            if t.contains(needle) { return t }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ChildProcess.Failure(description: "no \(needle.debugDescription) on the terminal within \(timeout) s: \(text.debugDescription)")
    }

    /// Starts `airlock run --control … ARGS` in a new session whose controlling terminal is this
    /// pty (stdin, stdout and stderr on it, or stdout to the file `stdout`).
    func start(_ rig: AgentRig, _ args: [String], stdin: String? = nil, stdout: String? = nil, environment: [String: String] = [:]) throws -> SpawnedRun {
        let argv = [airlockBinary(), "run", "--control", rig.control, "--workdir", rig.dir.path] + args
        let env = ["PATH": "/usr/bin:/bin", "HOME": rig.dir.path, "LANG": "C.UTF-8"].merging(environment) { $1 }.map { "\($0)=\($1)" }
        return try SpawnedRun(argv: argv, environment: env, terminal: slavePath, stdin: stdin, stdout: stdout)
    }
}

/// A process started with posix_spawn in a session of its own (POSIX_SPAWN_SETSID), which then
/// opens `terminal` and so makes it its controlling terminal, as a login shell's child has it.
final class SpawnedRun {
    /// POSIX_SPAWN_SETSID (glibc 2.26): a GNU flag Swift's Glibc module does not export.
    static let setsidFlag: Int32 = 0x80

    let pid: pid_t
    private var status: Int32?

    init(argv: [String], environment: [String], terminal: String, stdin: String? = nil, stdout: String?) throws {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(Self.setsidFlag | Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // After the setsid: a session leader without a controlling terminal that opens one
        // (without O_NOCTTY) acquires it.
        posix_spawn_file_actions_addopen(&actions, 0, terminal, O_RDWR, 0)
        if let stdout {
            posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 0, 1)
        }
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        // The terminal was opened first (as 0), so it is the controlling one; then stdin elsewhere.
        if let stdin { posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0) }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        guard rc == 0 else { throw ChildProcess.Failure(description: "posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    deinit { kill() }

    /// Waits up to `timeout` seconds; the exit status (128+N for signal N), or throws.
    func exit(timeout: Double = 30) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let s = poll() { return s }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ChildProcess.Failure(description: "airlock run (pid \(pid)) did not end within \(timeout) s")
    }

    private func poll() -> Int32? {
        if let status { return status }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        return status
    }

    func kill() {
        guard poll() == nil else { return }
        _ = Glibc.kill(pid, SIGKILL)
        var raw: Int32 = 0
        _ = waitpid(pid, &raw, 0)
        status = 137
    }
}

/// A device number as major and minor, from `st_rdev` or from `/proc/PID/stat`'s tty_nr.
struct Device: Equatable {
    let major: UInt64
    let minor: UInt64

    /// glibc's dev_t encoding (gnu_dev_major / gnu_dev_minor).
    init(rdev: UInt) {
        let dev = UInt64(rdev)
        major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
    }

    /// The kernel's tty_nr encoding (new_encode_dev).
    init(ttyNumber n: Int64) {
        let v = UInt64(bitPattern: n)
        major = (v >> 8) & 0xfff
        minor = (v & 0xff) | ((v >> 12) & 0xfff00)
    }
}

/// The fields of /proc/PID/stat a test needs (proc(5)).
struct ProcStat {
    let session: Int32
    let ttyNumber: Int64

    init?(pid: Int32) {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state, ppid, pgrp, session, tty_nr, …
        guard fields.count > 4, let session = Int32(fields[3]), let tty = Int64(fields[4]) else { return nil }
        self.session = session
        self.ttyNumber = tty
    }
}
