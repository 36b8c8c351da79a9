// # AirlockIO concurrency model
//
// One event-loop thread per process carries the hot path. It owns every connection, listener and
// timer registered on it; those objects are not `Sendable` and are touched only on that thread.
// Other threads hand work to the loop with `EventLoop.execute { }` (a `Mutex`-guarded queue plus an
// eventfd wakeup) and stop it with `stop()`; both are safe from anywhere. async/await lives only
// at the edges (`EventLoop.submit` bridges a closure's result back to a task); nothing on the
// forwarding path awaits.
//
// Readiness is edge-triggered (`EPOLLET`): a file descriptor is registered once, for reading and
// writing, and never modified on the hot path (no `epoll_ctl` per write-queue transition).
// The price is a rule every handler must keep: after an event, consume until `EAGAIN` (a short
// read counts), or, when stopping early for fairness, call `runSoon` to continue later, because
// the kernel will not report the same readiness twice.
//
// Every registration carries a generation, packed next to the fd into epoll's user data. When an
// fd is closed and its number reused within one batch of events, the old registration's pending
// events no longer match the slot's generation and are dropped (`staleEventsDropped`).
//
// Callbacks into upper layers never re-enter from a call those layers made: `TCPConnection`
// reports close and writability from the loop, never from inside `write` or `close`.

#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CAirlockShims

/// A single-threaded epoll event loop with timers and a cross-thread task queue.
///
/// Create it on any thread, register initial sources from that thread, then call `run()` on the
/// thread that will own it (or use `EventLoopThread`). Everything except `execute`, `submit`,
/// `stop` and `inLoop` must be called on the owning thread.
public final class EventLoop: @unchecked Sendable {
    // @unchecked Sendable: only `inbox`, `stopFlag`, `owner` and the immutable fds are touched off
    // the loop thread; every other stored property is confined to the owning thread.

    /// What a registration wants to hear about.
    public struct Interest: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = Interest(rawValue: 1)
        public static let write = Interest(rawValue: 2)
    }

    /// What epoll reported. The raw values are Linux's stable `EPOLL*` ABI bits.
    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: 0x001)     // EPOLLIN
        public static let writable = Events(rawValue: 0x004)     // EPOLLOUT
        public static let error = Events(rawValue: 0x008)        // EPOLLERR
        public static let hangup = Events(rawValue: 0x010)       // EPOLLHUP
        public static let readHangup = Events(rawValue: 0x2000)  // EPOLLRDHUP: peer sent FIN
    }

    public typealias Handler = (Events) -> Void

    /// Size of the shared read buffer: one 64 KiB TCP read plus headroom for a 2-byte-prefixed
    /// 65535-byte Noise frame, so a whole frame fits in one read.
    public static let readBufferSize = 64 * 1024 + 512

    private static let epollET: UInt32 = 1 << 31
    // epoll_ctl operations (Linux ABI; Swift's Glibc does not export them).
    private static let ctlAdd: Int32 = 1, ctlDel: Int32 = 2, ctlMod: Int32 = 3
    private static let wakeToken = UInt64.max

    private struct Slot {
        var generation: UInt32 = 0          // 0: empty
        var handler: Handler? = nil
    }

    private struct Inbox {
        var tasks: [@Sendable () -> Void] = []
        var wakePending = false
    }

    let epollFD: Int32
    private let wakeFD: Int32
    private var slots: [Slot] = []
    private var nextGeneration: UInt32 = 1
    var timerHeap = TimerHeap()
    var timerCallbacks: [UInt64: () -> Void] = [:]
    var nextTimerID: UInt64 = 1
    private var soon: [() -> Void] = []
    private let inbox = Mutex(Inbox())
    private let stopFlag = Atomic<Bool>(false)
    private let owner: Atomic<UInt>
    private var running = false
    private var registrations = 0

    /// The read buffer shared by every connection of this loop. A connection reads into it and
    /// hands the bytes to its `onRead` synchronously, so one buffer serves thousands of idle
    /// connections. Only one reader may hold it at a time (`readBufferBusy`).
    let readBuffer: UnsafeMutableRawBufferPointer
    var readBufferBusy = false

    /// Events dropped because their registration had been removed or replaced (for tests and
    /// metrics).
    public private(set) var staleEventsDropped = 0

    /// Number of live registrations (listeners, connections, other fds).
    public var registrationCount: Int { registrations }

    public init() throws(Errno) {
        epollFD = try retryingEINTR { airlock_epoll_create() }
        do {
            wakeFD = try retryingEINTR { airlock_eventfd(0) }
        } catch {
            Glibc.close(epollFD)
            throw error
        }
        owner = Atomic(UInt(pthread_self()))
        readBuffer = .allocate(byteCount: EventLoop.readBufferSize, alignment: 16)
        let ev = UInt32(Events.readable.rawValue) | EventLoop.epollET
        if airlock_epoll_ctl(epollFD, EventLoop.ctlAdd, wakeFD, ev, EventLoop.wakeToken) != 0 {
            let e = Errno.current
            Glibc.close(wakeFD); Glibc.close(epollFD); readBuffer.deallocate()
            throw e
        }
    }

    deinit {
        Glibc.close(wakeFD)
        Glibc.close(epollFD)
        readBuffer.deallocate()
    }

    /// True when called on the thread that owns the loop (the one in `run()`, or before that,
    /// the creating thread).
    public var inLoop: Bool { pthread_equal(pthread_t(owner.load(ordering: .acquiring)), pthread_self()) != 0 }

    // MARK: registrations

    /// Registers `fd` (edge-triggered) and sends its events to `handler` until `deregister`.
    /// The loop keeps `handler` (and what it captures) alive while registered. `.read` interest
    /// also reports the peer's FIN as `.readHangup`.
    public func register(_ fd: Int32, interest: Interest, handler: @escaping Handler) throws(Errno) {
        precondition(inLoop, "EventLoop.register off the loop thread")
        precondition(fd >= 0)
        let i = Int(fd)
        if i >= slots.count { slots.append(contentsOf: repeatElement(Slot(), count: i + 1 - slots.count + 64)) }
        precondition(slots[i].generation == 0, "fd \(fd) registered twice")
        let gen = nextGeneration
        nextGeneration = nextGeneration &+ 1 == 0 ? 1 : nextGeneration &+ 1
        try retryingEINTR { airlock_epoll_ctl(epollFD, EventLoop.ctlAdd, fd, EventLoop.mask(interest), EventLoop.token(fd, gen)) }
        slots[i] = Slot(generation: gen, handler: handler)
        registrations += 1
    }

    /// Changes the interest of a registered fd (keeps its handler and generation).
    public func modify(_ fd: Int32, interest: Interest) throws(Errno) {
        precondition(inLoop, "EventLoop.modify off the loop thread")
        let i = Int(fd)
        precondition(i >= 0 && i < slots.count && slots[i].generation != 0, "fd \(fd) not registered")
        let token = EventLoop.token(fd, slots[i].generation)
        try retryingEINTR { airlock_epoll_ctl(epollFD, EventLoop.ctlMod, fd, EventLoop.mask(interest), token) }
    }

    /// Removes `fd` and drops its handler; events already fetched for it are not delivered.
    /// Call before closing the fd. Deregistering an fd that is not registered is a no-op.
    public func deregister(_ fd: Int32) {
        precondition(inLoop, "EventLoop.deregister off the loop thread")
        let i = Int(fd)
        guard i >= 0, i < slots.count, slots[i].generation != 0 else { return }
        // Failure (EBADF/ENOENT) means the fd was already closed, which removed it from epoll.
        _ = airlock_epoll_ctl(epollFD, EventLoop.ctlDel, fd, 0, 0)
        slots[i] = Slot()
        registrations -= 1
    }

    private static func mask(_ interest: Interest) -> UInt32 {
        var m = epollET
        if interest.contains(.read) { m |= Events.readable.rawValue | Events.readHangup.rawValue }
        if interest.contains(.write) { m |= Events.writable.rawValue }
        return m
    }

    private static func token(_ fd: Int32, _ gen: UInt32) -> UInt64 {
        UInt64(gen) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    // MARK: work from this thread and from others

    /// Runs `body` on this loop after the current batch of events, before sleeping again.
    /// Loop thread only; the usual way to continue work that stopped early for fairness.
    public func runSoon(_ body: @escaping () -> Void) {
        soon.append(body)
    }

    /// Queues `body` to run on the loop thread. Safe from any thread; tasks run in order.
    /// Tasks queued after the loop stopped run if it is run again, else never.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        let wake = inbox.withLock { box -> Bool in
            box.tasks.append(body)
            if box.wakePending { return false }
            box.wakePending = true
            return true
        }
        if wake { wakeUp() }
    }

    /// Queues `body`, which may capture state owned by this loop, to run on the loop. For
    /// callbacks that another thread answers (a resolver's): `body` runs only on the loop
    /// thread, where that state lives, so handing it across is safe although it is not Sendable.
    public func executeLoopBound(_ body: @escaping () -> Void) {
        nonisolated(unsafe) let onLoop = body
        execute { onLoop() }
    }

    /// Runs `body` on the loop thread and returns its result to the calling task.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            execute {
                do { cont.resume(returning: try body()) } catch { cont.resume(throwing: error) }
            }
        }
    }

    /// Asks `run()` to return after the current iteration. Safe from any thread.
    public func stop() {
        stopFlag.store(true, ordering: .releasing)
        wakeUp()
    }

    private func wakeUp() {
        var one: UInt64 = 1
        // EAGAIN means the counter is saturated: the loop is already due to wake.
        _ = withUnsafeBytes(of: &one) { Glibc.write(wakeFD, $0.baseAddress, 8) }
    }

    // MARK: running

    /// Runs the loop on the calling thread until `stop()`. The calling thread becomes the owner.
    public func run() {
        precondition(!running, "EventLoop.run re-entered")
        owner.store(UInt(pthread_self()), ordering: .releasing)
        running = true
        defer { running = false; stopFlag.store(false, ordering: .relaxed) }
        let maxEvents = 256
        let evs = UnsafeMutablePointer<UInt32>.allocate(capacity: maxEvents)
        let data = UnsafeMutablePointer<UInt64>.allocate(capacity: maxEvents)
        defer { evs.deallocate(); data.deallocate() }
        while !stopFlag.load(ordering: .acquiring) {
            let n = airlock_epoll_wait(epollFD, evs, data, Int32(maxEvents), timeoutMilliseconds())
            if n < 0 {
                let e = errno
                precondition(e == EINTR, "epoll_wait: \(Errno(rawValue: e))")
                continue
            }
            for k in 0..<Int(n) { dispatch(evs[k], data[k]) }
            runDueTimers()
            runSoonTasks()
            runInbox()
        }
    }

    /// Drops every registration, timer and pending task, so objects they kept alive are freed
    /// (their deinit closes their fds). For shutdown, on the owning thread after `run()` returned.
    public func dropAll() {
        precondition(inLoop && !running)
        for i in slots.indices where slots[i].generation != 0 {
            _ = airlock_epoll_ctl(epollFD, EventLoop.ctlDel, Int32(i), 0, 0)
        }
        slots = []
        registrations = 0
        timerHeap = TimerHeap()
        timerCallbacks = [:]
        soon = []
        inbox.withLock { $0.tasks = [] }
    }

    private func dispatch(_ ev: UInt32, _ token: UInt64) {
        if token == EventLoop.wakeToken {
            var counter: UInt64 = 0
            _ = withUnsafeMutableBytes(of: &counter) { Glibc.read(wakeFD, $0.baseAddress, 8) }
            return
        }
        let i = Int(UInt32(truncatingIfNeeded: token))
        let gen = UInt32(truncatingIfNeeded: token >> 32)
        guard i < slots.count, slots[i].generation == gen, let handler = slots[i].handler else {
            staleEventsDropped += 1
            return
        }
        handler(Events(rawValue: ev))
    }

    private func timeoutMilliseconds() -> Int32 {
        if !soon.isEmpty { return 0 }
        guard let deadline = nextTimerDeadline() else { return -1 }
        let ns = MonotonicTime.now().nanoseconds(until: deadline)
        // Round up so a timer is never polled for before it is due (no busy loop).
        let ms = (ns + 999_999) / 1_000_000
        return Int32(min(ms, UInt64(Int32.max)))
    }

    private func runSoonTasks() {
        guard !soon.isEmpty else { return }
        let batch = soon
        soon = []
        for task in batch { task() }
    }

    private func runInbox() {
        let batch = inbox.withLock { box -> [@Sendable () -> Void] in
            box.wakePending = false
            let t = box.tasks
            box.tasks = []
            return t
        }
        for task in batch { task() }
    }
}
