#if canImport(Glibc)
import Glibc
#endif

/// Why no unprivileged identity could be chosen for an agent or a shim.
public enum IdentityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The system account does not exist; the launcher never creates it itself.
    case missingAccount(String)
    /// The identity found is root (uid or gid 0), which agents and shims never run as.
    case root(String)
    /// SUDO_UID / SUDO_GID is present but not a plain decimal id.
    case invalidSudoVariable(name: String, value: String)
    /// getpwnam_r failed for a reason other than "no such user".
    case lookupFailed(String, code: Int32)

    public var description: String {
        switch self {
        case .missingAccount(let name):
            return "system user \(name) does not exist: run `make deps` as root, or "
                + "`useradd --system --no-create-home --shell /usr/sbin/nologin \(name)`"
        case .root(let what):
            return "\(what) is root; agents and shims never run as uid 0 or gid 0"
        case .invalidSudoVariable(let name, let value):
            return "\(name)=\"\(value)\" is not a numeric id"
        case .lookupFailed(let name, let code):
            return "cannot look up user \(name): \(String(cString: strerror(code)))"
        }
    }
}
