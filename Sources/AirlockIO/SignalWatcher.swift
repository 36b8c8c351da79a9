internal import CAirlockShims
#if canImport(Glibc)
import Glibc
#endif

/// Delivers Unix signals as events on a loop (through a signalfd), so a handler may touch
/// loop-owned state. Create it on the main thread before starting other threads: the signals are
/// blocked in the creating thread and threads started later inherit that mask.
public final class SignalWatcher {
    private let fd: Int32
    private let loop: EventLoop

    public init(loop: EventLoop, signals: [Int32], _ handler: @escaping (Int32) -> Void) throws(Errno) {
        let fd = signals.withUnsafeBufferPointer { airlock_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { throw Errno.current }
        self.fd = fd
        self.loop = loop
        do {
            try loop.register(fd, interest: .read) { _ in
                while true {
                    let sig = airlock_signalfd_read(fd)
                    guard sig > 0 else { return }
                    handler(sig)
                }
            }
        } catch {
            close(fd)
            throw error
        }
    }

    /// Stops watching (the signals stay blocked).
    public func cancel() {
        loop.deregister(fd)
        close(fd)
    }
}
