#if canImport(Glibc)
import Glibc
#endif

/// A child process of the bench (a relay, a service peer, `airlock run`, the py-libp2p relay,
/// slirp4netns): started with `posix_spawn`, default signal dispositions and an empty signal
/// mask, stdin and stdout optionally on pipes, stderr to a log file in the bench's directory.
/// Registered with `BenchCleanup`, so SIGINT to the bench stops it too; `stop` (or deinit)
/// ends and reaps it.
final class BenchChild {
    let name: String
    let pid: pid_t
    let logPath: String
    private var stdinFD: Int32 = -1
    private var stdoutFD: Int32 = -1
    private var buffered: [UInt8] = []
    private var running = true

    /// - Parameters:
    ///   - stdin: give the child a pipe as stdin (`write`, `closeStdin`); otherwise /dev/null.
    ///   - keepFD, keepFD2: descriptors of ours the child gets as the same numbers (close-on-exec
    ///     cleared in it); both must be below 99.
    /// `stopsLast`: on interrupt, stopped after the other children (a relay: it ends the runs
    /// of the agents stopped before it, their cgroups included).
    init(name: String, argv: [String], logPath: String, stdin: Bool = false, keepFD: Int32? = nil, keepFD2: Int32? = nil,
         stopsLast: Bool = false) throws {
        self.name = name
        self.logPath = logPath
        var out: [Int32] = [-1, -1], inp: [Int32] = [-1, -1]
        guard BenchChild.cloexecPipe(&out) else { throw CommandFailure("bench: pipe: \(Output.errnoText())") }
        if stdin {
            guard BenchChild.cloexecPipe(&inp) else {
                close(out[0]); close(out[1])
                throw CommandFailure("bench: pipe: \(Output.errnoText())")
            }
        }
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        defer {
            close(out[1])
            if inp[0] >= 0 { close(inp[0]) }
            if logFD >= 0 { close(logFD) }
        }
        guard logFD >= 0 else {
            close(out[0]); if inp[1] >= 0 { close(inp[1]) }
            throw CommandFailure("bench: cannot create \(logPath): \(Output.errnoText())")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdin { posix_spawn_file_actions_adddup2(&actions, inp[0], 0) } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        // dup2 onto itself does not clear close-on-exec; through a spare number it does.
        for k in [keepFD, keepFD2].compactMap({ $0 }) {
            posix_spawn_file_actions_adddup2(&actions, k, 99)
            posix_spawn_file_actions_adddup2(&actions, 99, k)
            posix_spawn_file_actions_addclose(&actions, 99)
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargv { free(p) } }
        var child = pid_t()
        let rc = posix_spawn(&child, argv[0], &actions, &attr, &cargv, environ)
        guard rc == 0 else {
            close(out[0]); if inp[1] >= 0 { close(inp[1]) }
            throw CommandFailure("bench: cannot start \(argv[0]) (\(name)): \(String(cString: strerror(rc)))")
        }
        pid = child
        stdoutFD = out[0]
        stdinFD = inp[1]
        BenchCleanup.shared.add(pid: child, last: stopsLast)
    }

    deinit { stop() }

    /// The next line the child printed on stdout, waiting at most `timeout` seconds; the log's
    /// tail is in the error when it exits or stays silent.
    func readLine(timeout: Double, _ what: String) throws -> String {
        let deadline = BenchProbe.wallSeconds() + timeout
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let nl = buffered.firstIndex(of: 10) {
                let line = String(decoding: buffered[..<nl], as: UTF8.self)
                buffered.removeSubrange(...nl)
                return line
            }
            let left = deadline - BenchProbe.wallSeconds()
            guard left > 0 else { throw failure("no \(what) within \(Int(timeout)) s") }
            var p = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(min(left, 1) * 1000) + 1)
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure("exited before \(what)") }
            buffered += chunk[0..<n]
        }
    }

    /// Writes `text` to the child's stdin pipe.
    func write(_ text: String) {
        guard stdinFD >= 0 else { return }
        _ = Output.writeAll(stdinFD, Array(text.utf8))
    }

    func closeStdin() {
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
    }

    /// Waits up to `timeout` seconds for the child to exit by itself; its exit code (128+N for
    /// signal N), or nil if it is still running.
    func wait(timeout: Double) -> Int32? {
        guard running else { return nil }
        let deadline = BenchProbe.wallSeconds() + timeout
        var status: Int32 = 0
        repeat {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                reaped()
                let sig = status & 0x7f
                return sig == 0 ? (status >> 8) & 0xff : 128 + sig
            }
            if r < 0 && errno != EINTR { reaped(); return nil }
            usleep(5_000)
        } while BenchProbe.wallSeconds() < deadline
        return nil
    }

    /// `signal`, then SIGKILL if it has not exited within `grace` seconds; reaps it.
    func stop(signal: Int32 = SIGTERM, grace: Double = 5) {
        guard running else { return }
        closeStdin()
        kill(pid, signal)
        if wait(timeout: grace) == nil && running {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            reaped()
        }
    }

    private func reaped() {
        running = false
        BenchCleanup.shared.remove(pid: pid)
        if stdoutFD >= 0 { close(stdoutFD); stdoutFD = -1 }
        closeStdin()
    }

    /// An error naming the child, with the last lines of its log.
    func failure(_ text: String) -> CommandFailure {
        CommandFailure("bench: \(name) \(text)\n\(BenchChild.tail(logPath, name))")
    }

    /// The last lines of a log, for an error message.
    static func tail(_ path: String, _ name: String) -> String {
        let lines = (BenchProbe.readText(path) ?? "").split(separator: "\n").suffix(12)
        return lines.isEmpty ? "(the \(name) log \(path) is empty)" : "\(name) log \(path):\n" + lines.joined(separator: "\n")
    }

    /// `pipe` with close-on-exec on both ends (the bench spawns only from its main thread, so
    /// no child can inherit them between the two calls).
    static func cloexecPipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }
}
