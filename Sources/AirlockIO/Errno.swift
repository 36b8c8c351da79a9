#if canImport(Glibc)
import Glibc
#endif

/// A Unix error number as a value, with a readable description.
///
/// Every syscall in AirlockIO goes through `retryingEINTR` / `nonBlocking`, which retry `EINTR`
/// and report `EAGAIN`/`EWOULDBLOCK` separately, so callers never see those two as errors.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(rawValue: errno) }

    /// The symbolic name when known (`ECONNREFUSED`), else `errno N`.
    public var name: String { Errno.names[rawValue] ?? "errno \(rawValue)" }

    /// `ECONNREFUSED (Connection refused)`: the name and strerror text.
    public var description: String {
        // glibc 2.32+ keeps strerror's buffer for unknown numbers per thread, so this is safe.
        guard let text = strerror(rawValue) else { return name }
        return "\(name) (\(String(cString: text)))"
    }

    public static let EPERM = Errno(rawValue: Glibc.EPERM)
    public static let ENOENT = Errno(rawValue: Glibc.ENOENT)
    public static let EINTR = Errno(rawValue: Glibc.EINTR)
    public static let EBADF = Errno(rawValue: Glibc.EBADF)
    public static let EAGAIN = Errno(rawValue: Glibc.EAGAIN)
    public static let ENOMEM = Errno(rawValue: Glibc.ENOMEM)
    public static let EACCES = Errno(rawValue: Glibc.EACCES)
    public static let EINVAL = Errno(rawValue: Glibc.EINVAL)
    public static let ENFILE = Errno(rawValue: Glibc.ENFILE)
    public static let EMFILE = Errno(rawValue: Glibc.EMFILE)
    public static let EPIPE = Errno(rawValue: Glibc.EPIPE)
    public static let ENODEV = Errno(rawValue: Glibc.ENODEV)
    public static let EADDRINUSE = Errno(rawValue: Glibc.EADDRINUSE)
    public static let EADDRNOTAVAIL = Errno(rawValue: Glibc.EADDRNOTAVAIL)
    public static let ENETUNREACH = Errno(rawValue: Glibc.ENETUNREACH)
    public static let ECONNABORTED = Errno(rawValue: Glibc.ECONNABORTED)
    public static let ECONNRESET = Errno(rawValue: Glibc.ECONNRESET)
    public static let ENOTCONN = Errno(rawValue: Glibc.ENOTCONN)
    public static let ETIMEDOUT = Errno(rawValue: Glibc.ETIMEDOUT)
    public static let ECONNREFUSED = Errno(rawValue: Glibc.ECONNREFUSED)
    public static let EHOSTUNREACH = Errno(rawValue: Glibc.EHOSTUNREACH)
    public static let EINPROGRESS = Errno(rawValue: Glibc.EINPROGRESS)
    public static let EPROTO = Errno(rawValue: Glibc.EPROTO)

    private static let names: [Int32: String] = [
        Glibc.EPERM: "EPERM", Glibc.ENOENT: "ENOENT", Glibc.EINTR: "EINTR", Glibc.EBADF: "EBADF",
        Glibc.EAGAIN: "EAGAIN", Glibc.ENOMEM: "ENOMEM", Glibc.EACCES: "EACCES", Glibc.EINVAL: "EINVAL",
        Glibc.ENFILE: "ENFILE", Glibc.EMFILE: "EMFILE", Glibc.EPIPE: "EPIPE", Glibc.ENODEV: "ENODEV",
        Glibc.EADDRINUSE: "EADDRINUSE", Glibc.EADDRNOTAVAIL: "EADDRNOTAVAIL",
        Glibc.ENETUNREACH: "ENETUNREACH", Glibc.ECONNABORTED: "ECONNABORTED",
        Glibc.ECONNRESET: "ECONNRESET", Glibc.ENOTCONN: "ENOTCONN", Glibc.ETIMEDOUT: "ETIMEDOUT",
        Glibc.ECONNREFUSED: "ECONNREFUSED", Glibc.EHOSTUNREACH: "EHOSTUNREACH",
        Glibc.EINPROGRESS: "EINPROGRESS", Glibc.EPROTO: "EPROTO", Glibc.EEXIST: "EEXIST", Glibc.ENOSYS: "ENOSYS",
        Glibc.ENOTSOCK: "ENOTSOCK", Glibc.EAFNOSUPPORT: "EAFNOSUPPORT",
    ]
}

/// Runs a syscall, retrying while it fails with `EINTR`; any other failure throws its errno.
/// `body` follows the C convention: a negative result means failure with `errno` set.
@inline(__always) @discardableResult
func retryingEINTR<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = errno
        if e == EINTR { continue }
        throw Errno(rawValue: e)
    }
}

/// Like `retryingEINTR`, but `EAGAIN`/`EWOULDBLOCK` return `nil` ("would block, wait for the
/// next readiness event") instead of throwing.
@inline(__always)
func nonBlocking<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T? {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { return nil }
        throw Errno(rawValue: e)
    }
}
