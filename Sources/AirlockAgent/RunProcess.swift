#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
internal import CAirlockShims

/// What the relay needs of a run's process tree (its init): a pidfd to watch, a way to end it,
/// and a wait for it to be gone. Either spawned by this process (`AgentProcess`, reaped here) or
/// handed back by `airlock run` after a relay restart (`AdoptedProcess`, someone else's child).
public protocol RunProcess: AnyObject, Sendable {
    var pid: Int32 { get }
    /// Readable once the process has exited. Borrowed: never close it.
    var pidfd: Int32 { get }
    /// SIGKILL to the init: the kernel then kills its whole PID namespace.
    func kill()
    /// Waits until the process has exited (at most `timeoutMilliseconds` for one that is not
    /// this process's child). The exit status when this process reaped it, else nil.
    @discardableResult
    func waitGone(timeoutMilliseconds: Int32) -> AgentProcess.ExitStatus?
    /// Lets the process outlive this handle.
    func release()
}

extension AgentProcess: RunProcess {
    public func waitGone(timeoutMilliseconds: Int32) -> ExitStatus? { wait() }
}

/// A process this one did not start, known by a pidfd (owned, closed on deinit) that a caller
/// passed over the control socket. Its status goes to its parent, not here.
public final class AdoptedProcess: RunProcess {
    public let pid: Int32
    public let pidfd: Int32

    /// Takes ownership of `pidfd` once it is shown to be a live process in network namespace
    /// `network` (and, when given, running as `uid`); closes it and throws otherwise.
    public init(pidfd: Int32, in network: NamespaceID, uid: UInt32? = nil) throws(AdoptionError) {
        func refuse(_ why: String) -> AdoptionError { close(pidfd); return AdoptionError(description: why) }
        guard let pid = Self.pid(ofPidfd: pidfd) else { throw refuse("not a process descriptor") }
        // While the process lives its pid cannot be reused, so /proc/<pid> is it.
        guard !Self.hasExited(pidfd) else { throw refuse("process \(pid) has exited") }
        var st = stat()
        guard stat("/proc/\(pid)/ns/net", &st) == 0,
              NamespaceID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) == network else {
            throw refuse("process \(pid) is not in the namespace given with it")
        }
        if let uid {
            guard stat("/proc/\(pid)", &st) == 0, st.st_uid == uid else { throw refuse("process \(pid) does not run as uid \(uid)") }
        }
        guard !Self.hasExited(pidfd) else { throw refuse("process \(pid) has exited") }
        self.pid = pid
        self.pidfd = pidfd
    }

    deinit { close(pidfd) }

    public func kill() { _ = airlock_pidfd_send_signal(pidfd, SIGKILL) }

    /// Nothing to do: dropping an adopted handle never kills.
    public func release() {}

    public func waitGone(timeoutMilliseconds: Int32) -> AgentProcess.ExitStatus? {
        var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, timeoutMilliseconds) < 0 && errno == EINTR {}
        return nil
    }

    static func hasExited(_ pidfd: Int32) -> Bool {
        var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) == 1
    }

    /// The pid behind a pidfd, from `/proc/self/fdinfo` (`Pid:` line); nil when it is not one.
    static func pid(ofPidfd fd: Int32) -> Int32? {
        guard let file = fopen("/proc/self/fdinfo/\(fd)", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        var isPidfd = false
        var pid: Int32?
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(cString: line)
            if text.hasPrefix("Pid:") {
                pid = Int32(String(text.dropFirst(4).filter { $0 != " " && $0 != "\t" && $0 != "\n" }))
                isPidfd = true
            }
        }
        // Only pidfds have a Pid: line in fdinfo; anything else (a socket, a file) has none.
        return isPidfd ? pid.flatMap { $0 > 0 ? $0 : nil } : nil
    }
}

/// Why a descriptor handed over as a run's process was refused.
public struct AdoptionError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
