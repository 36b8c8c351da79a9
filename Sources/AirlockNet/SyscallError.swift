#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the errno value, the call's name and what it was applied to.
public struct SyscallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The errno value (positive).
    public let code: Int32
    /// The C call that failed (`mount`, `open`, `setns`, …).
    public let call: String
    /// What the call was applied to (a path, a namespace name).
    public let context: String

    public init(code: Int32, call: String, context: String) {
        self.code = code; self.call = call; self.context = context
    }

    /// Captures the calling thread's current `errno`.
    static func last(_ call: String, _ context: String) -> SyscallError {
        SyscallError(code: errno, call: call, context: context)
    }

    /// The symbolic name (`EPERM`) when known, else `errno N`.
    public var name: String {
        switch code {
        case Glibc.EPERM: return "EPERM"
        case Glibc.ENOENT: return "ENOENT"
        case EINTR: return "EINTR"
        case EIO: return "EIO"
        case EBADF: return "EBADF"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case Glibc.EBUSY: return "EBUSY"
        case Glibc.EEXIST: return "EEXIST"
        case Glibc.ENODEV: return "ENODEV"
        case ENOTDIR: return "ENOTDIR"
        case Glibc.EINVAL: return "EINVAL"
        case ENOSPC: return "ENOSPC"
        case EROFS: return "EROFS"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case ENOSYS: return "ENOSYS"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        case ECONNREFUSED: return "ECONNREFUSED"
        case ENETUNREACH: return "ENETUNREACH"
        case ETIMEDOUT: return "ETIMEDOUT"
        default: return "errno \(code)"
        }
    }

    public var description: String {
        "\(call) \(context): \(name) (\(String(cString: strerror(code))))"
    }

    // Re-exported so callers can match codes without importing Glibc.
    public static let EPERM = Glibc.EPERM
    public static let ENOENT = Glibc.ENOENT
    public static let EEXIST = Glibc.EEXIST
    public static let ENODEV = Glibc.ENODEV
    public static let EINVAL = Glibc.EINVAL
    public static let EBUSY = Glibc.EBUSY
}
