#if canImport(Glibc)
import Glibc
#endif

/// A repeating byte pattern (period 251, a prime, so it never lines up with buffer or frame
/// sizes) that senders send and sinks compare against, so a transfer is checked without storing it.
enum BenchPattern {
    static let period = 251
    /// Longest window `withWindow` serves.
    static let maxWindow = 256 * 1024
    static let bytes: [UInt8] = (0..<(maxWindow + period)).map { UInt8($0 % period) }

    /// `count` pattern bytes starting at stream offset `offset`.
    static func withWindow<R>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(count <= maxWindow)
        let start = offset % period
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + count)])) }
    }

    /// Whether `chunk` equals the pattern at stream offset `offset` (one `memcmp`).
    static func matches(_ chunk: UnsafeRawBufferPointer, offset: Int) -> Bool {
        guard chunk.count > 0 else { return true }
        var ok = true
        var done = 0
        while done < chunk.count {
            let n = min(maxWindow, chunk.count - done)
            ok = withWindow(offset: offset + done, count: n) { memcmp($0.baseAddress!, chunk.baseAddress! + done, n) == 0 } && ok
            done += n
        }
        return ok
    }
}
