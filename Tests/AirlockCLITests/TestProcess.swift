#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

// GNU extensions Swift's Glibc module does not export (glibc 2.34 and 2.29).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnActionsCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func spawnActionsChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32

/// A child of the tests, started with `posix_spawn` and reaped by a thread of its own that waits
/// for exactly its pid.
///
/// Why not Foundation's `Process`: it learns of a child's end through one socket per child and one
/// manager thread for all of them, which calls a *blocking* `waitpid` as soon as the socket ends.
/// A child that closes its inherited descriptors while it keeps running (a shell that closes
/// everything before `exec`, a daemon) then stalls every other `Process` of the test process,
/// and a grandchild that keeps the socket makes its `waitUntilExit` wait for the grandchild.
/// Here nothing is shared between children: the child gets exactly 0, 1 and 2 (everything else
/// closed in the child, `closefrom`), in a process group of its own as `Process` did.
///
/// Stdout is split into lines as it arrives, stderr kept (up to 16 MiB). **Thread:** any.
final class TestProcess: @unchecked Sendable {  // mutable state is behind `state`'s mutex; the fds are set once
    struct Failure: Error, CustomStringConvertible { let description: String }

    private struct State {
        var out: [UInt8] = []
        var lines: [String] = []
        var read = 0
        var err: [UInt8] = []
        var outputDone = false
        /// Exit status, or the signal number for a child a signal ended (as `Process` reports it).
        var status: Int32?
        var signalled = false
        var stdinClosed = false
    }

    /// The state the threads share, in a class so they can hold it.
    private final class Shared: Sendable {
        let m = Mutex(State())
    }

    let pid: pid_t
    let name: String
    private let shared = Shared()
    private let stdinFD: Int32

    /// Starts `executable` (a path) with `arguments`. `stdin` nil: a pipe the caller may close
    /// with `closeStdin()`; else the file at that path.
    init(_ executable: String, _ arguments: [String], name: String? = nil, directory: String? = nil,
         environment: [String: String]? = nil, stdin: String? = nil) throws {
        self.name = name ?? URL(fileURLWithPath: executable).lastPathComponent
        var inp: [Int32] = [-1, -1], out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        // Close-on-exec (set just after pipe: another spawn meanwhile closes all but 0-2 anyway).
        func cloexecPipe(_ fds: inout [Int32]) -> Bool {
            guard pipe(&fds) == 0 else { return false }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return true
        }
        guard cloexecPipe(&inp), cloexecPipe(&out), cloexecPipe(&err) else {
            let why = String(cString: strerror(errno))
            for fd in inp + out + err where fd >= 0 { close(fd) }
            throw Failure(description: "\(self.name): cannot make pipes: \(why)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, inp[0], 0)
        }
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        _ = spawnActionsCloseFrom(&actions, 3)
        if let directory { _ = directory.withCString { spawnActionsChdir(&actions, $0) } }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let env = environment ?? ProcessInfo.processInfo.environment
        let cArgs: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var child = pid_t()
        let rc = posix_spawn(&child, executable, &actions, &attr, cArgs, cEnv)
        close(inp[0]); close(out[1]); close(err[1])
        guard rc == 0 else {
            close(inp[1]); close(out[0]); close(err[0])
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
        stdinFD = inp[1]
        let outFD = out[0], errFD = err[0]
        let shared = self.shared
        Thread.detachNewThread { TestProcess.readOutput(outFD, errFD, into: shared) }
        let spawned = child
        Thread.detachNewThread { TestProcess.reap(spawned, into: shared) }
    }

    deinit {
        kill()
        closeStdin()
    }

    var isRunning: Bool { shared.m.withLock { $0.status == nil } }
    /// The exit status (a signal's number when a signal ended it); nil while it runs.
    var terminationStatus: Int32? { shared.m.withLock { $0.status } }
    var stderrText: String { shared.m.withLock { String(decoding: $0.err, as: UTF8.self) } }
    var stderrLines: [String] { stderrText.split(separator: "\n").map(String.init) }
    /// Every complete stdout line so far, read or not.
    var stdoutLines: [String] { shared.m.withLock { $0.lines } }

    func signal(_ sig: Int32) { if isRunning { _ = Glibc.kill(pid, sig) } }

    /// Closes the child's stdin (py peers exit 0 on EOF). Idempotent.
    func closeStdin() {
        shared.m.withLock { s in
            guard !s.stdinClosed else { return }
            s.stdinClosed = true
            if stdinFD >= 0 { close(stdinFD) }
        }
    }

    /// Closes stdin (py peers exit 0 on EOF), waits up to `grace` seconds, then kills.
    func stop(grace: Double = 5) {
        closeStdin()
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline { usleep(20_000) }
        kill()
    }

    /// SIGKILL (a no-op once it has ended) and wait for the reaper, at most 10 s.
    func kill() {
        signal(SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while isRunning && Date() < deadline { usleep(5_000) }
    }

    /// Waits up to `timeout` seconds for the end and for its output to be read; the status, or
    /// nil if it still runs.
    func waitForExit(timeout: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        guard let status = terminationStatus else { return nil }
        // The pipes may still hold its last words (or a daemon it left holds them: not forever).
        let drained = Date().addingTimeInterval(2)
        while !shared.m.withLock({ $0.outputDone }) && Date() < drained { try await Task.sleep(for: .milliseconds(10)) }
        return status
    }

    /// The same, blocking the calling thread (for synchronous callers).
    func waitForExitBlocking(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { usleep(5_000) }
        guard let status = terminationStatus else { return nil }
        let drained = Date().addingTimeInterval(2)
        while !shared.m.withLock({ $0.outputDone }) && Date() < drained { usleep(5_000) }
        return status
    }

    /// The next unread stdout line that satisfies `matching` (unread lines before it are passed
    /// over); fails if the process ends first or `timeout` seconds pass.
    func nextLine(timeout: Double, _ what: String, _ matching: (String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let line = shared.m.withLock { s -> String? in
                guard s.read < s.lines.count else { return nil }
                s.read += 1
                return s.lines[s.read - 1]
            }
            if let line {
                if matching(line) { return line }
                continue
            }
            if !isRunning {
                try await Task.sleep(for: .milliseconds(100))  // lines may still be in the pipe
                if shared.m.withLock({ $0.read == $0.lines.count }) {
                    throw Failure(description: "\(name) exited (\(terminationStatus ?? -1)) before \(what); stderr: \(stderrText.suffix(3000))")
                }
                continue
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "no \(what) from \(name) within \(timeout) s; stderr: \(stderrText.suffix(3000))")
    }

    // MARK: threads

    private static func reap(_ pid: pid_t, into shared: Shared) {
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 {
            guard errno == EINTR else {
                shared.m.withLock { $0.status = -1 }
                return
            }
        }
        let signal = raw & 0x7f
        shared.m.withLock { s in
            s.signalled = signal != 0
            s.status = signal != 0 ? signal : (raw >> 8) & 0xff
        }
    }

    private static func readOutput(_ outFD: Int32, _ errFD: Int32, into shared: Shared) {
        var fds = [pollfd(fd: outFD, events: Int16(POLLIN), revents: 0), pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)]
        var open = 2
        var buf = [UInt8](repeating: 0, count: 65536)
        while open > 0 {
            let n = poll(&fds, 2, -1)
            if n < 0 { if errno == EINTR { continue }; break }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let got = buf.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if got < 0 && errno == EINTR { continue }
                if got <= 0 {
                    close(fds[i].fd)
                    fds[i].fd = -1
                    open -= 1
                    continue
                }
                let chunk = buf[..<got]
                shared.m.withLock { s in
                    if i == 0 {
                        s.out += chunk
                        while let nl = s.out.firstIndex(of: UInt8(ascii: "\n")) {
                            s.lines.append(String(decoding: s.out[..<nl], as: UTF8.self))
                            s.out.removeSubrange(...nl)
                        }
                    } else if s.err.count < 16 << 20 {
                        s.err += chunk
                    }
                }
            }
        }
        shared.m.withLock { $0.outputDone = true }
    }

    /// Runs `executable` to its end (killed after `timeout` seconds): status, stdout, stderr.
    static func run(_ executable: String, _ arguments: [String], directory: String? = nil, environment: [String: String]? = nil,
                    stdin: String? = "/dev/null", timeout: Double = 120) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = try TestProcess(executable, arguments, directory: directory, environment: environment, stdin: stdin)
        guard let status = p.waitForExitBlocking(timeout: timeout) else {
            p.kill()
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) did not end within \(timeout) s; stderr: \(p.stderrText.suffix(2000))")
        }
        // Whole output: the last line may have no newline.
        let out = p.shared.m.withLock { s in (s.lines.map { $0 + "\n" }.joined()) + String(decoding: s.out, as: UTF8.self) }
        return (status, out, p.stderrText)
    }
}
