#if canImport(Glibc)
import Glibc
#endif
internal import CAirlockShims

/// Runs one piece of work on a fresh pthread that first joins a network namespace, then exits.
///
/// This is the only sanctioned way for airlock to act inside another network namespace: the thread
/// is created for the work and dies with it, so a thread whose namespace was changed can never be
/// handed back to a pool, to Dispatch or to the Swift concurrency runtime (design §5).
enum NamespaceThread {
    /// What the dedicated thread needs; handed over with `Unmanaged` and released by the thread.
    /// `@unchecked Sendable`: the creating thread writes `work` before `pthread_create` and reads
    /// `setnsError` only after `pthread_join`, both of which order memory; no access overlaps.
    private final class Job: @unchecked Sendable {
        let fd: Int32
        let work: () -> Void
        var setnsError: Int32 = 0
        init(fd: Int32, work: @escaping () -> Void) { self.fd = fd; self.work = work }
    }

    /// Runs `work` on a new thread inside the namespace `fd` refers to and waits for it.
    /// Blocks the calling thread until the work returns. Throws only when the thread cannot be
    /// started or cannot enter the namespace; in both cases `work` did not run.
    static func run(fd: Int32, context: String, _ work: () -> Void) throws(NetError) {
        var failure: NetError?
        withoutActuallyEscaping(work) { escapable in
            let job = Job(fd: fd, work: escapable)
            let arg = Unmanaged.passRetained(job).toOpaque()
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { raw in
                let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
                let err = airlock_setns_net(job.fd)
                if err != 0 { job.setnsError = err } else { job.work() }
                return nil
            }, arg)
            if rc != 0 {
                Unmanaged<Job>.fromOpaque(arg).release()
                failure = .system(SyscallError(code: rc, call: "pthread_create", context: context))
                return
            }
            let jrc = pthread_join(tid, nil)
            // A failed join would leave `work` in use after we return: that is our bug, not input.
            precondition(jrc == 0, "pthread_join failed: \(jrc)")
            if job.setnsError != 0 {
                failure = .system(SyscallError(code: job.setnsError, call: "setns", context: context))
            }
        }
        if let failure { throw failure }
    }
}
