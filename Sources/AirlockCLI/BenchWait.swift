import Dispatch
import Synchronization

/// One result handed from a loop or worker thread to the thread that waits for it.
final class BenchWait<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    private let signal = DispatchSemaphore(value: 0)

    /// Delivers `result`; only the first delivery counts.
    func finish(_ result: T) {
        let first = value.withLock { v -> Bool in
            guard v == nil else { return false }
            v = result
            return true
        }
        if first { signal.signal() }
    }

    /// Waits up to `seconds`; nil when nothing came in time.
    func wait(seconds: Double) -> T? {
        let deadline = DispatchTime.now() + .milliseconds(Int(seconds * 1000))
        guard signal.wait(timeout: deadline) == .success else { return nil }
        return value.withLock { $0 }
    }
}
