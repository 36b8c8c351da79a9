// AirlockNet: network namespaces, veth pairs, addresses and sysctls through libnl and a small C shim.
//
// Threading model: the calling thread never changes namespace. Everything that must happen inside a
// namespace (netlink sockets, /proc/sys writes, sockets a caller wants bound there) runs on a
// dedicated thread started by `NetworkNamespace.run`, which exits when the work is done
// (design §5: `setns` changes only the calling thread, and Swift tasks hop threads).

/// The one error every AirlockNet operation throws.
public enum NetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A libnl call failed.
    case netlink(NetlinkError)
    /// A system call failed.
    case system(SyscallError)
    /// A name we refuse before asking the kernel (interface names are at most 15 bytes, namespace
    /// names are single path components).
    case invalidName(String, reason: String)
    /// A bounded wait ended before the condition held (what, and the bound in milliseconds).
    case timedOut(String, milliseconds: Int)

    public var description: String {
        switch self {
        case .netlink(let e): return e.description
        case .system(let e): return e.description
        case .invalidName(let name, let reason): return "invalid name \"\(name)\": \(reason)"
        case .timedOut(let what, let ms): return "timed out after \(ms) ms waiting for \(what)"
        }
    }

    /// True when the object asked for does not exist (no such link, namespace file or address).
    public var isNotFound: Bool {
        switch self {
        case .netlink(let e): return e.isNotFound
        case .system(let e): return e.code == SyscallError.ENOENT || e.code == SyscallError.ENODEV
        default: return false
        }
    }

    /// True when the object to create already exists.
    public var isExists: Bool {
        switch self {
        case .netlink(let e): return e.code == NetlinkError.NLE_EXIST
        case .system(let e): return e.code == SyscallError.EEXIST
        default: return false
        }
    }
}
