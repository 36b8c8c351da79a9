#if canImport(Glibc)
import Glibc
#endif

/// An unprivileged identity to run an agent command or a shim as (design §4, "who runs as whom").
///
/// Never uid 0 or gid 0: every initializer refuses them. Supplementary groups are never kept;
/// `AgentProcess.spawn` clears them.
public struct AgentUser: Sendable, Equatable, CustomStringConvertible {
    /// The system account agents run as when no invoking user is known.
    public static let agentAccount = "airlock-agent"
    /// The system account shims run as, so an agent can neither trace nor signal its shim.
    public static let shimAccount = "airlock-shim"
    /// The group whose members may use the relay's control socket (`airlock run` without sudo).
    public static let operatorGroup = "airlock"

    public let uid: UInt32
    public let gid: UInt32
    /// The account name when it came from the user database.
    public let name: String?

    /// An explicit identity (e.g. the uid a control-socket caller presented). Refuses 0.
    public init(uid: UInt32, gid: UInt32, name: String? = nil) throws(IdentityError) {
        if uid == 0 || gid == 0 { throw .root(name.map { "user \($0)" } ?? "uid \(uid) gid \(gid)") }
        self.uid = uid; self.gid = gid; self.name = name
    }

    public var description: String {
        if let name { return "\(name) (\(uid):\(gid))" }
        return "\(uid):\(gid)"
    }

    /// Who an agent started by `airlock run` runs as: the user who invoked sudo (SUDO_UID and
    /// SUDO_GID, both required and non-zero), or else the `airlock-agent` system account.
    ///
    /// SUDO_UID absent or `0` (root ran sudo) selects the system account. A SUDO_UID that is set
    /// but malformed, or a SUDO_GID that is missing, malformed or 0, throws rather than falling
    /// back: a damaged environment is not a reason to pick another identity silently.
    public static func resolve(sudoEnv: [String: String]) throws(IdentityError) -> AgentUser {
        try resolve(sudoEnv: sudoEnv, account: account(named:))
    }

    /// `resolve` with the account lookup replaceable (tests).
    static func resolve(sudoEnv: [String: String],
                        account: (String) throws(IdentityError) -> AgentUser) throws(IdentityError) -> AgentUser {
        if let rawUID = sudoEnv["SUDO_UID"] {
            guard let uid = parseID(rawUID) else { throw .invalidSudoVariable(name: "SUDO_UID", value: rawUID) }
            if uid != 0 {
                let rawGID = sudoEnv["SUDO_GID"] ?? ""
                guard let gid = parseID(rawGID) else { throw .invalidSudoVariable(name: "SUDO_GID", value: rawGID) }
                if gid == 0 { throw .root("SUDO_GID") }
                return try AgentUser(uid: uid, gid: gid, name: sudoEnv["SUDO_USER"])
            }
        }
        return try account(agentAccount)
    }

    /// The `airlock-shim` system account.
    public static func shim() throws(IdentityError) -> AgentUser {
        try account(named: shimAccount)
    }

    /// The system account `name` (uid and primary gid), from the user database. Throws
    /// `missingAccount` when it does not exist and `root` when its uid or gid is 0.
    public static func account(named name: String) throws(IdentityError) -> AgentUser {
        guard let (uid, gid) = try lookup(name: name) else { throw .missingAccount(name) }
        return try AgentUser(uid: uid, gid: gid, name: name)
    }

    /// getpwnam_r: (uid, gid) of `name`, nil when there is no such user.
    static func lookup(name: String) throws(IdentityError) -> (UInt32, UInt32)? {
        var size = max(Int(sysconf(Int32(_SC_GETPW_R_SIZE_MAX))), 1024)
        while true {
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let rc = withUnsafeTemporaryAllocation(of: CChar.self, capacity: size) { buf in
                getpwnam_r(name, &entry, buf.baseAddress!, size, &result)
            }
            if rc == ERANGE && size < 1 << 20 { size *= 2; continue }
            if rc == EINTR { continue }
            // glibc answers ENOENT (and some NSS modules ESRCH, EBADF) for "no such user".
            if rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF {
                guard result != nil else { return nil }
                return (entry.pw_uid, entry.pw_gid)
            }
            throw .lookupFailed(name, code: rc)
        }
    }

    /// getgrnam_r: the gid of group `name`, nil when there is no such group or the lookup failed.
    public static func groupID(named name: String) -> UInt32? {
        var size = max(Int(sysconf(Int32(_SC_GETGR_R_SIZE_MAX))), 1024)
        while true {
            var entry = group()
            var result: UnsafeMutablePointer<group>?
            let rc = withUnsafeTemporaryAllocation(of: CChar.self, capacity: size) { buf in
                getgrnam_r(name, &entry, buf.baseAddress!, size, &result)
            }
            if rc == ERANGE && size < 1 << 20 { size *= 2; continue }
            if rc == EINTR { continue }
            return rc == 0 && result != nil ? entry.gr_gid : nil
        }
    }

    /// A decimal id that fits uid_t; no sign, no spaces.
    static func parseID(_ s: String) -> UInt32? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        guard let v = UInt32(s), v != UInt32.max else { return nil }
        return v
    }
}
