#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CAirlockShims

/// An `EventLoop` running on its own POSIX thread.
///
/// The thread runs the loop until `stop()`, then drops every registration, timer and queued task
/// (so their objects are freed and their fds closed) and exits. `join()` waits for that.
public final class EventLoopThread: Sendable {
    public let loop: EventLoop
    private let thread: Mutex<pthread_t?>

    /// Starts a thread named `name` (at most 15 bytes are kept) running a new loop.
    public init(name: String = "airlock-loop") throws(Errno) {
        let loop = try EventLoop()
        self.loop = loop
        let context = Unmanaged.passRetained(Start(loop: loop, name: name)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            airlock_set_thread_name(start.name)
            start.loop.run()
            start.loop.dropAll()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Start>.fromOpaque(context).release()
            throw Errno(rawValue: rc)
        }
        thread = Mutex(tid)
    }

    /// Asks the loop to stop. Safe from any thread.
    public func stop() { loop.stop() }

    /// Waits until the loop thread has exited. Must not be called on the loop thread.
    /// Only the first call waits; later calls return at once.
    public func join() {
        precondition(!loop.inLoop, "EventLoopThread.join on its own thread")
        guard let tid = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) else { return }
        pthread_join(tid, nil)
    }

    /// `stop()` then `join()`.
    public func stopAndJoin() {
        stop()
        join()
    }

    /// Hands the loop and the thread name to the new thread.
    private final class Start {
        let loop: EventLoop
        let name: String
        init(loop: EventLoop, name: String) { self.loop = loop; self.name = name }
    }
}
