#if canImport(Glibc)
import Glibc
#endif

/// Process-wide file-descriptor limit handling.
public enum FileLimit {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft limit.
    /// Call once at start, before threads: a relay holds two or more fds per connection and the
    /// usual soft default (1024) is far below the thousands of connections it must hold.
    @discardableResult
    public static func raiseToHardLimit() throws(Errno) -> UInt64 {
        var lim = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        if getrlimit(resource, &lim) != 0 { throw Errno.current }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max
            if setrlimit(resource, &lim) != 0 { throw Errno.current }
        }
        return UInt64(lim.rlim_cur)
    }

    /// The current soft limit.
    public static func current() -> UInt64 {
        var lim = rlimit()
        _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim)
        return UInt64(lim.rlim_cur)
    }
}

/// Raises the open-file limit to the hard limit (see `FileLimit.raiseToHardLimit`).
@discardableResult
public func raiseOpenFileLimit() throws(Errno) -> UInt64 {
    try FileLimit.raiseToHardLimit()
}
