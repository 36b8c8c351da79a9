#if canImport(Glibc)
import Glibc
#endif
import AirlockAgent
import AirlockNet
import Synchronization

/// What the bench must undo if it is interrupted: its child processes, the namespaces it made
/// and its directory. Normal runs undo each as they go (`defer`); on SIGINT or SIGTERM a
/// watcher thread does it all here and exits 130, so an interrupted run leaves nothing behind.
/// The relay child removes its own hub and agents when it gets SIGTERM.
///
/// The signal handler only writes one byte to a pipe (async-signal-safe); the watcher thread
/// does the work.
final class BenchCleanup: Sendable {
    static let shared = BenchCleanup()

    /// Start of every namespace the bench makes itself; the relay's hub prefix is `hubStem`.
    static let stem = "abenchn-"
    static let hubStem = "abn"
    /// This run's namespaces: `abenchn-PID-…`, so two runs on one machine (a developer's and a
    /// test suite's) never touch each other's, and a sweep can tell a dead run's from a live one.
    static let prefix = "\(stem)\(getpid())"
    /// This run's hub prefix (a-z, 0-9, at most 8): `abn` and the pid in base 36.
    static let hubPrefix = hubStem + String(getpid(), radix: 36)

    private struct State {
        var pids: [pid_t] = []
        /// Children stopped only after the others (relays: they end the runs of agents that
        /// stopped first, cgroups included, and remove their hub).
        var lastPids: [pid_t] = []
        var namespaces: [String] = []
        var directories: [String] = []
        var armed = false
        var interrupted = false
    }
    private let state = Mutex(State())
    nonisolated(unsafe) private static var signalPipe: [Int32] = [-1, -1]

    func add(pid: pid_t, last: Bool = false) { state.withLock { if last { $0.lastPids.append(pid) } else { $0.pids.append(pid) } } }
    func remove(pid: pid_t) {
        state.withLock {
            $0.pids.removeAll { $0 == pid }
            $0.lastPids.removeAll { $0 == pid }
        }
    }
    func add(namespace: String) { state.withLock { $0.namespaces.append(namespace) } }
    func remove(namespace: String) { state.withLock { $0.namespaces.removeAll { $0 == namespace } } }
    func add(directory: String) { state.withLock { $0.directories.append(directory) } }

    /// After SIGINT/SIGTERM, while the watcher undoes everything: a phase failing because its
    /// children went away must not end the process before the watcher has finished.
    func waitIfInterrupted() {
        guard state.withLock({ $0.interrupted }) else { return }
        while true { pause() }
    }

    /// Installs the SIGINT/SIGTERM handlers and the watcher thread (once).
    func arm() {
        let first = state.withLock { s -> Bool in
            defer { s.armed = true }
            return !s.armed
        }
        guard first, BenchChild.cloexecPipe(&BenchCleanup.signalPipe) else { return }
        let readFD = BenchCleanup.signalPipe[0]
        _ = try? BenchThread(name: "bench-signals") { [self] in
            var byte: UInt8 = 0
            while read(readFD, &byte, 1) < 0 && errno == EINTR {}
            state.withLock { $0.interrupted = true }
            CLI.printErr("bench: interrupted; stopping children and removing namespaces")
            undoAll()
            _exit(130)
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            var b: UInt8 = 1
            _ = write(BenchCleanup.signalPipe[1], &b, 1)
        }
        sigemptyset(&action.sa_mask)
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
    }

    /// Stops every registered child, the relays last (SIGTERM, then SIGKILL after 5 s), so a
    /// relay sees its agents' runs end and removes their cgroups before it stops; deletes the
    /// namespaces and removes the directories.
    func undoAll() {
        let s = state.withLock { $0 }
        Self.stop(s.pids)
        Self.stop(s.lastPids)
        // A relay stopped while one of its runs was still ending keeps that run's cgroup (a
        // run outlives its relay); the run is gone with its `airlock run`, so the cgroup goes.
        Self.removeCgroups(prefix: Self.hubPrefix)
        for ns in s.namespaces { try? NetworkNamespace.delete(name: ns) }
        for dir in s.directories { BenchTempDir.remove(dir) }
    }

    private static func stop(_ pids: [pid_t]) {
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = BenchProbe.wallSeconds() + 5
        var left = pids
        while !left.isEmpty && BenchProbe.wallSeconds() < deadline {
            var status: Int32 = 0
            // Gone: reaped here, or already by its BenchChild (ECHILD); a 0 means it still runs.
            left.removeAll { pid in
                let r = waitpid(pid, &status, WNOHANG)
                return r == pid || (r < 0 && errno == ECHILD)
            }
            if !left.isEmpty { usleep(20_000) }
        }
        for pid in left {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// Removes the run cgroups (`airlock-abnPID36/…`) that relays of dead runs left: empty
    /// leaves of runs whose agent is gone. Returns the parents removed.
    static func sweepCgroups() -> [String] {
        let layout = CgroupLayout.current()
        var removed: [String] = []
        let parents = Set(layout.hierarchies.flatMap { h in
            RunCgroup.subdirectories(h).filter { $0.hasPrefix("airlock-" + hubStem) }
        })
        for parent in parents.sorted() {
            let prefix = String(parent.dropFirst("airlock-".count))
            guard let pid = pid_t(prefix.dropFirst(hubStem.count), radix: 36), pid != getpid(),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            if removeCgroups(prefix: prefix) { removed.append(parent) }
        }
        return removed
    }

    /// Kills what is left in the run cgroups under `airlock-<prefix>` and removes them and the
    /// parent; true when nothing of it is left.
    @discardableResult
    static func removeCgroups(prefix: String) -> Bool {
        let layout = CgroupLayout.current()
        let parent = RunCgroup.parentName(prefix: prefix)
        let leaves = Set(layout.hierarchies.flatMap { RunCgroup.subdirectories("\($0)/\(parent)") })
        for leaf in leaves {
            guard let cg = RunCgroup.adopt(layout, prefix: prefix, name: leaf) else { continue }
            _ = cg.kill()
            let deadline = BenchProbe.wallSeconds() + 2
            while !cg.remove().isEmpty && BenchProbe.wallSeconds() < deadline { usleep(20_000) }
        }
        RunCgroup.removeParents(layout, prefix: prefix)
        return !layout.hierarchies.contains { access("\($0)/\(parent)", F_OK) == 0 }
    }

    /// Deletes the namespaces that runs killed earlier left: the bench's own (`abenchn-PID-…`)
    /// and their relays' hubs and agents (`abnPID36-…`), when that PID is no longer alive.
    static func sweep() -> [String] {
        var deleted: [String] = []
        for name in (try? NetworkNamespace.list(prefix: "")) ?? [] {
            let pid: pid_t?
            if name.hasPrefix(stem) {
                pid = pid_t(name.dropFirst(stem.count).prefix { $0.isNumber })
            } else if name.hasPrefix(hubStem), let dash = name.firstIndex(of: "-"),
                      name[dash...] == "-hub" || name[dash...].hasPrefix("-bench") {
                // The relay's hub and its agents (the path's policy has one agent, `bench`).
                pid = pid_t(name[name.index(name.startIndex, offsetBy: hubStem.count)..<dash], radix: 36)
            } else { continue }
            guard let pid, pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if (try? NetworkNamespace.delete(name: name)) != nil { deleted.append(name) }
        }
        return deleted
    }
}
