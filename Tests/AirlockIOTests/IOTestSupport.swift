#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import AirlockIO

/// All AirlockIO tests, run one at a time: they measure heap use and throughput and each opens
/// many sockets, which parallel runs would distort.
@Suite(.serialized) struct IOTests {}

struct LoopTimeout: Error, CustomStringConvertible {
    var description: String { "test timed out on the event loop" }
}

/// Resolves a continuation at most once, from whichever thread gets there first.
final class Once<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>
    init(_ c: CheckedContinuation<T, any Error>) { continuation = Mutex(c) }
    func finish(_ r: Result<T, any Error>) {
        continuation.withLock { c in c?.resume(with: r); c = nil }
    }
}

/// Runs `body` on a fresh loop thread and waits until it calls `done` (or `timeout` passes).
/// The loop is stopped and joined afterwards, which frees everything still registered.
func onLoop<T: Sendable>(timeout: Duration = .seconds(30),
                         _ body: @escaping @Sendable (EventLoop, @escaping @Sendable (Result<T, any Error>) -> Void) -> Void) async throws -> T {
    let thread = try EventLoopThread(name: "io-test")
    defer { thread.stopAndJoin() }
    let loop = thread.loop
    return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let once = Once(c)
        loop.execute {
            loop.schedule(after: timeout) { once.finish(.failure(LoopTimeout())) }
            body(loop, { once.finish($0) })
        }
    }
}

/// A repeating byte pattern (period 251, prime, so it never lines up with buffer sizes) and a
/// window into it, for sending and checking large transfers without storing them.
enum Pattern {
    static let period = 251
    static let bytes: [UInt8] = (0..<(256 * 1024 + period)).map { UInt8($0 % period) }

    /// `count` pattern bytes starting at stream offset `offset`.
    static func withWindow<R>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(count <= bytes.count - period)
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[(offset % period)..<(offset % period + count)])) }
    }

    /// Whether `chunk` equals the pattern at stream offset `offset`.
    static func matches(_ chunk: UnsafeRawBufferPointer, offset: Int) -> Bool {
        withWindow(offset: offset, count: chunk.count) { memcmp($0.baseAddress!, chunk.baseAddress!, chunk.count) == 0 }
    }
}

/// An atomic counter that closures can capture.
final class Counter: Sendable {
    let value: Atomic<Int>
    init(_ initial: Int = 0) { value = Atomic(initial) }
}

/// A non-blocking, close-on-exec pipe: (read end, write end).
func makePipe() -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0)
    for fd in fds {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return (fds[0], fds[1])
}
