#if canImport(Glibc)
import Glibc
#endif
internal import CAirlockShims
import AirlockCore

extension NamespaceID {
    /// The identity of the namespace `path` refers to (`stat(2)` follows the nsfs link).
    public init(path: String) throws(Errno) {
        var st = stat()
        try retryingEINTR { stat(path, &st) }
        self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The network namespace of process `pid` (its main thread's).
    public static func network(ofProcess pid: Int32) throws(Errno) -> NamespaceID {
        try NamespaceID(path: "/proc/\(pid)/ns/net")
    }

    /// The network namespace of the calling thread.
    public static func currentNetwork() throws(Errno) -> NamespaceID {
        try NamespaceID(path: "/proc/thread-self/ns/net")
    }
}

/// Who is on the other end of a control connection, as the kernel reports it: never what the
/// caller claims.
///
/// `uid`, `gid` and `pid` come from `SO_PEERCRED` (recorded at `connect(2)`). `network` is the
/// network namespace of that process, read from `/proc/<pid>/ns/net` while a pidfd proves the
/// process is still the one that connected (so a recycled pid cannot lend its namespace). It is
/// `nil` when it cannot be established (the caller exited, or its pid is not visible from the
/// relay's pid namespace): callers that require it must then refuse.
public struct ControlPeer: Hashable, Sendable, CustomStringConvertible {
    /// Distinguishes connections of one `ControlServer`; never reused by that server.
    public let id: UInt64
    public let uid: UInt32
    public let gid: UInt32
    public let pid: Int32
    public let network: NamespaceID?

    public init(id: UInt64, uid: UInt32, gid: UInt32, pid: Int32, network: NamespaceID?) {
        self.id = id
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.network = network
    }

    public var description: String {
        "control peer #\(id) (uid \(uid), gid \(gid), pid \(pid), \(network.map { "net \($0)" } ?? "net unknown"))"
    }

    /// Reads the peer of a connected control socket.
    static func of(_ socket: ControlSocket, id: UInt64) throws(Errno) -> ControlPeer {
        let cred = try socket.peerCredentials()
        return ControlPeer(id: id, uid: cred.uid, gid: cred.gid, pid: cred.pid,
                           network: networkNamespace(of: socket, pid: cred.pid))
    }

    /// The peer's network namespace, or nil when it cannot be tied to the connecting process.
    private static func networkNamespace(of socket: ControlSocket, pid: Int32) -> NamespaceID? {
        guard pid > 0 else { return nil }
        // SO_PEERPIDFD pins the very process that connected. Before Linux 6.5 fall back to
        // pidfd_open, which pins whoever holds the pid now: only a pid recycled between the
        // connect and this call could slip through.
        let pidfd: Int32
        if let fd = try? socket.peerPIDFD() {
            pidfd = fd
        } else {
            pidfd = airlock_pidfd_open(pid, 0)
            guard pidfd >= 0 else { return nil }
        }
        defer { Glibc.close(pidfd) }
        guard let ns = try? NamespaceID.network(ofProcess: pid) else { return nil }
        // Alive after the stat: the pid still named the pinned process while we read it.
        guard airlock_pidfd_send_signal(pidfd, 0) == 0 else { return nil }
        return ns
    }
}
