#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
internal import CAirlockShims

/// The one thread every agent is spawned from. It is started on first use and never exits.
///
/// Why: the init of every agent has PR_SET_PDEATHSIG(SIGKILL), and the kernel fires it when the
/// *thread* that forked the init exits, not the process (design §5). Spawning from a Dispatch worker
/// or a Swift concurrency thread would kill the agent whenever that pool retires the thread. From
/// this thread, the signal fires only when the launcher process itself dies, which is what we want
/// (invariant 8). Spawns are serialized here, which also keeps one launch's error pipe out of
/// another launch's init.
final class SpawnThread: Sendable {
    static let shared = SpawnThread()

    /// One request: the work, and a semaphore the requester waits on.
    /// `@unchecked Sendable`: `work` is only touched on the spawn thread, while the requester is
    /// blocked in `done.wait()`; the semaphore orders the two threads' accesses.
    private final class Job: @unchecked Sendable {
        /// Cleared before `done` is signalled: the closure wraps a non-escaping one, which must
        /// not outlive the requester's call.
        var work: (() -> Void)?
        let done = DispatchSemaphore(value: 0)
        init(work: @escaping () -> Void) { self.work = work }
    }

    private let jobs = Mutex<[Job]>([])
    private let wake = DispatchSemaphore(value: 0)

    private init() {
        let arg = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let me = Unmanaged<SpawnThread>.fromOpaque(raw!).takeRetainedValue()
            airlock_set_thread_name("airlock-spawn")
            me.loop()
        }, arg)
        // Without this thread no agent can start safely; there is no useful way to go on.
        precondition(rc == 0, "cannot start the spawn thread: \(String(cString: strerror(rc)))")
        pthread_detach(tid)
    }

    private func loop() -> Never {
        while true {
            wake.wait()
            guard let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            job.work?()
            job.work = nil
            job.done.signal()
        }
    }

    /// Runs `body` on the spawn thread and returns its result; blocks the caller until then.
    func run<T>(_ body: () -> T) -> T {
        var result: T?
        withoutActuallyEscaping(body) { escapable in
            let job = Job { result = escapable() }
            jobs.withLock { $0.append(job) }
            wake.signal()
            job.done.wait()
        }
        return result!
    }
}
