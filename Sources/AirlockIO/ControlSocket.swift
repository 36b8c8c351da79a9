#if canImport(Glibc)
import Glibc
#endif
internal import CAirlockShims

/// An `AF_UNIX` `SOCK_SEQPACKET` socket of the control channel: typed wrappers over the calls
/// `ControlServer` and `ControlClient` share.
///
/// SEQPACKET keeps message boundaries (one `sendmsg` is one message, delivered whole or not at
/// all) and carries descriptors with `SCM_RIGHTS`, so the protocol needs no framing and callers
/// hand the relay open files instead of paths. Like `Socket`, a `ControlSocket` is a plain value
/// and does not own its fd. Every socket is close-on-exec from birth and every received fd is
/// close-on-exec (`MSG_CMSG_CLOEXEC`), so nothing leaks into processes the relay starts.
public struct ControlSocket: Hashable, Sendable, CustomStringConvertible {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    public var description: String { "control-socket(\(fd))" }

    /// Largest payload of one control message. Bigger messages close the connection.
    public static let maxPayload = 64 * 1024
    /// Most descriptors one control message may carry (stdin, stdout, stderr, the working
    /// directory, a key and some room). More close the connection.
    public static let maxFDs = Int(AIRLOCK_CONTROL_MAX_FDS)

    /// One received message. The receiver owns `fds` and must close them.
    public struct Received {
        public var count: Int
        public var fds: [Int32]
        /// The payload did not fit the buffer (`MSG_TRUNC`) or descriptors were dropped
        /// (`MSG_CTRUNC`). The message must be discarded.
        public var truncated: Bool
    }

    /// `socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC [| SOCK_NONBLOCK])`.
    public static func make(nonBlocking: Bool) throws(Errno) -> ControlSocket {
        ControlSocket(fd: try retryingEINTR { airlock_seqpacket_socket(nonBlocking ? 1 : 0) })
    }

    /// `bind(2)` to a filesystem path (`ENAMETOOLONG` when it does not fit `sun_path`).
    public func bind(path: String) throws(Errno) {
        try retryingEINTR { airlock_unix_bind(fd, path) }
    }

    /// `listen(2)`.
    public func listen(backlog: Int32 = 64) throws(Errno) {
        try retryingEINTR { Glibc.listen(fd, backlog) }
    }

    /// `connect(2)` to a filesystem path. On a non-blocking socket a full backlog is `EAGAIN`.
    public func connect(path: String) throws(Errno) {
        // EINTR on a Unix socket connect: the kernel restarts it; retrying is what glibc users do.
        try retryingEINTR { airlock_unix_connect(fd, path) }
    }

    /// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`. `nil` when no connection is pending.
    public func accept() throws(Errno) -> ControlSocket? {
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try nonBlocking { airlock_accept4(fd, flags) }.map(ControlSocket.init(fd:))
    }

    /// `sendmsg(2)` of one whole message with `fds` as `SCM_RIGHTS` (`MSG_NOSIGNAL`: a closed
    /// peer is `EPIPE`). The fds stay the caller's. Returns false when the peer's queue is full
    /// (non-blocking sockets only); a SEQPACKET message is never sent in part.
    ///
    /// This is the raw call: it enforces only the kernel's limits (`EINVAL` beyond 253 fds,
    /// `EMSGSIZE` beyond the send buffer). `ControlClient` and `ControlServer` enforce the
    /// protocol's caps.
    public func send(_ bytes: UnsafeRawBufferPointer, fds: [Int32]) throws(Errno) -> Bool {
        let sent = try nonBlocking {
            fds.withUnsafeBufferPointer { f in
                airlock_send_with_fds(fd, bytes.baseAddress, UInt(bytes.count), f.baseAddress, Int32(f.count), 0)
            }
        }
        guard let sent else { return false }
        // SEQPACKET sends are atomic; a short count would be a kernel contract change.
        precondition(sent == bytes.count, "short SEQPACKET send")
        return true
    }

    /// `recvmsg(2)` of one message into `buffer` with `MSG_CMSG_CLOEXEC`. `nil` when nothing is
    /// queued (non-blocking sockets). A count of 0 is the end of the stream (or an empty
    /// message, which the control protocol never sends).
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Received? {
        // Control messages are rare; a small array per message keeps this simple.
        var fdBuf = [Int32](repeating: -1, count: ControlSocket.maxFDs)
        var nfds: Int32 = 0
        var truncated: Int32 = 0
        guard let n = try nonBlocking({
            fdBuf.withUnsafeMutableBufferPointer { f in
                airlock_recv_with_fds(fd, buffer.baseAddress, UInt(buffer.count), f.baseAddress, &nfds, &truncated, 0)
            }
        }) else { return nil }
        return Received(count: n, fds: Array(fdBuf.prefix(Int(nfds))), truncated: truncated != 0)
    }

    /// `SO_PEERCRED`: who connected, as the kernel recorded it at `connect(2)` (in this process's
    /// pid and user namespaces; pid 0 when the peer's process is not visible from here).
    public func peerCredentials() throws(Errno) -> (pid: Int32, uid: UInt32, gid: UInt32) {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        try retryingEINTR { airlock_peer_credentials(fd, &pid, &uid, &gid) }
        return (pid, uid, gid)
    }

    /// `SO_PEERPIDFD`: a pidfd for the peer process (Linux 6.5+). The caller closes it.
    public func peerPIDFD() throws(Errno) -> Int32 {
        try retryingEINTR { airlock_peer_pidfd(fd) }
    }

    /// `close(2)`; not retried on EINTR (the fd is released either way on Linux).
    public func close() {
        _ = Glibc.close(fd)
    }
}
