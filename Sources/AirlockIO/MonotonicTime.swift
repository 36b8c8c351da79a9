#if canImport(Glibc)
import Glibc
#endif

/// A point on `CLOCK_MONOTONIC`, in nanoseconds. Never goes backwards, unaffected by wall-clock
/// changes; meaningless across machines or reboots. Used for timer deadlines and timeouts.
public struct MonotonicTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// Now, from `clock_gettime(CLOCK_MONOTONIC)` (a vDSO call: no syscall).
    public static func now() -> MonotonicTime {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicTime(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    public static func < (a: MonotonicTime, b: MonotonicTime) -> Bool { a.nanoseconds < b.nanoseconds }

    /// `self + d`, saturating (negative durations count as zero).
    public func advanced(by d: Duration) -> MonotonicTime {
        MonotonicTime(nanoseconds: nanoseconds.addingReportingOverflow(d.clampedNanoseconds).partialValue)
    }

    /// Nanoseconds from `self` until `later`, or 0 when `later` is not after `self`.
    public func nanoseconds(until later: MonotonicTime) -> UInt64 {
        later.nanoseconds > nanoseconds ? later.nanoseconds - nanoseconds : 0
    }

    public var description: String { "\(nanoseconds / 1_000_000)ms" }
}

extension Duration {
    /// Whole nanoseconds, clamped to 0 … UInt64.max / 2 (about 292 years), so deadline arithmetic
    /// cannot overflow.
    var clampedNanoseconds: UInt64 {
        let (s, atto) = components
        if s < 0 || (s == 0 && atto <= 0) { return 0 }
        let cap = UInt64.max / 2
        if UInt64(s) >= cap / 1_000_000_000 { return cap }
        return UInt64(s) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }
}
