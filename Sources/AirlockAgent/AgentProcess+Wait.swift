#if canImport(Glibc)
import Glibc
#endif
internal import CAirlockShims

extension AgentProcess {
    /// The exit status if the init has ended (reaping it), nil while it runs. Never blocks.
    public var exitStatus: ExitStatus? { reap(blocking: false) }

    /// Blocks until the init has ended and returns its status. When it returns, every process of
    /// the agent's PID namespace is gone: the kernel reaps the namespace before the init's exit is
    /// reported. Any number of threads may wait at once; all get the same status.
    public func wait() -> ExitStatus {
        if let done = reap(blocking: false) { return done }
        // Wait for readability outside the lock, so `exitStatus` never blocks behind a waiter.
        var pfd = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        while poll(&pfd, 1, -1) < 0 && errno == EINTR {}
        return reap(blocking: true)!
    }

    /// Waits without blocking the caller's thread: a dedicated thread blocks in `wait()`.
    /// Not cancellable; to stop waiting, end the agent (`terminate()`, `kill()`).
    public func waitAsync() async -> ExitStatus {
        if let done = exitStatus { return done }
        return await withCheckedContinuation { continuation in
            Self.detach { continuation.resume(returning: self.wait()) }
        }
    }

    /// Asks the agent to stop: SIGTERM to the init, which forwards it to the command.
    public func terminate() { signal(SIGTERM) }

    /// Ends the agent now: SIGKILL to the init, upon which the kernel kills every process in its
    /// PID namespace. Call `wait()` afterwards to reap.
    public func kill() { signal(SIGKILL) }

    /// Sends `signal` to the init through the pidfd (race-free: never another process that reused
    /// the pid). The init acts on SIGTERM, SIGINT, SIGHUP (forwarded) and SIGKILL; others are
    /// dropped by the kernel. Returns false once the init is gone.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        airlock_pidfd_send_signal(pidfd, signal) == 0
    }

    /// Reaps the init if it has ended (or, `blocking`, once it has), caching the status so every
    /// caller sees it. Nil only when not blocking and still running.
    func reap(blocking: Bool) -> ExitStatus? {
        statusLock.withLock { cached -> ExitStatus? in
            if let cached { return cached }
            var state: Int32 = 0, value: Int32 = 0
            let err = airlock_pidfd_wait(pidfd, blocking ? 0 : 1, &state, &value)
            // ECHILD would mean someone else reaped our child: a bug in this process.
            precondition(err == 0, "waitid(P_PIDFD) on agent \(pid): \(String(cString: strerror(err)))")
            switch state {
            case AIRLOCK_WAIT_EXITED: cached = .exited(value)
            case AIRLOCK_WAIT_SIGNALED: cached = .signaled(value)
            default: return nil
            }
            return cached
        }
    }

    /// Runs `body` on a new detached pthread.
    private static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Box: Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let arg = Unmanaged.passRetained(Box(body)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, arg)
        precondition(rc == 0, "cannot start a wait thread: \(String(cString: strerror(rc)))")
        pthread_detach(tid)
    }
}
