#if canImport(Glibc)
import Glibc
#endif
internal import CAirlockShims

/// A TCP socket file descriptor: thin, typed wrappers over the socket syscalls.
///
/// A `Socket` is a plain value and does not own the fd: exactly one owner (a `TCPConnection`, a
/// `TCPListener`, or the caller) closes it. Every socket made here is non-blocking and
/// close-on-exec from birth. Calls that could block return `nil` instead (`EAGAIN`), and `EINTR`
/// is retried. Sends use `MSG_NOSIGNAL`, so a closed peer yields `EPIPE`, never `SIGPIPE`.
public struct Socket: Hashable, Sendable, CustomStringConvertible {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    public var description: String { "socket(\(fd))" }

    // MARK: creation

    /// A listening TCP socket bound to `address` (port 0 picks a free port; read it back with
    /// `localAddress()`). `socket`, `setsockopt(SO_REUSEADDR)`, optional `SO_BINDTODEVICE`,
    /// IPv6-only for IPv6 addresses, `bind`, `listen`.
    public static func listenTCP(on address: SocketAddress, backlog: Int32 = 4096,
                                 device: String? = nil) throws(Errno) -> Socket {
        let s = try Socket(fd: retryingEINTR { airlock_tcp_socket(address.family) })
        do throws(Errno) {
            try s.setOption(SOL_SOCKET, SO_REUSEADDR, 1)
            if address.isIPv6 { try s.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            if let device { try s.bindToDevice(device) }
            if address.withSockAddr({ sa, len in Glibc.bind(s.fd, sa, len) }) != 0 { throw Errno.current }
            try retryingEINTR { Glibc.listen(s.fd, backlog) }
            return s
        } catch {
            s.close()
            throw error
        }
    }

    /// Starts a non-blocking `connect` to `address`. Returns the socket and whether it is
    /// already connected; when not, writability reports completion and `takeError()` the result.
    /// Immediate failures (e.g. `ECONNREFUSED` on loopback) throw, and the socket is closed.
    public static func connectTCP(to address: SocketAddress,
                                  device: String? = nil) throws(Errno) -> (socket: Socket, connected: Bool) {
        let s = try Socket(fd: retryingEINTR { airlock_tcp_socket(address.family) })
        do throws(Errno) {
            if let device { try s.bindToDevice(device) }
            let rc = address.withSockAddr { sa, len in Glibc.connect(s.fd, sa, len) }
            if rc == 0 { return (s, true) }
            let e = errno
            // EINTR: the connect continues asynchronously, exactly like EINPROGRESS.
            if e == EINPROGRESS || e == EINTR { return (s, false) }
            throw Errno(rawValue: e)
        } catch {
            s.close()
            throw error
        }
    }

    /// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`. `nil` when no connection is pending.
    public func accept() throws(Errno) -> Socket? {
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try nonBlocking { airlock_accept4(fd, flags) }.map(Socket.init(fd:))
    }

    // MARK: data

    /// `read(2)` into `buffer`. Returns the byte count (0: the peer closed its side), or `nil`
    /// when nothing is available.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int? {
        try nonBlocking { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// `send(2)` with `MSG_NOSIGNAL`. Returns the bytes taken (possibly fewer than offered), or
    /// `nil` when the send buffer is full.
    @inline(__always)
    public func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int? {
        try nonBlocking { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Gathering `sendmsg(2)` with `MSG_NOSIGNAL` of up to `Socket.maxIOVectors` buffers.
    /// Returns the bytes taken across all buffers, or `nil` when the send buffer is full.
    public func writev(_ buffers: UnsafeBufferPointer<UnsafeRawBufferPointer>) throws(Errno) -> Int? {
        let n = min(buffers.count, Socket.maxIOVectors)
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: n) { iov throws(Errno) -> Int? in
            for i in 0..<n {
                iov[i] = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffers[i].baseAddress), iov_len: buffers[i].count)
            }
            var msg = msghdr()
            msg.msg_iov = iov.baseAddress
            msg.msg_iovlen = n
            return try nonBlocking { Glibc.sendmsg(fd, &msg, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Buffers per `writev` call (well under Linux's IOV_MAX of 1024; more gains nothing).
    public static let maxIOVectors = 64

    /// `shutdown(SHUT_WR)`: sends FIN after the queued kernel data; reads stay open.
    public func shutdownWrite() throws(Errno) {
        try retryingEINTR { Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// `close(2)`. Not retried on EINTR: on Linux the fd is released either way.
    public func close() {
        _ = Glibc.close(fd)
    }

    // MARK: options

    /// `TCP_NODELAY`: send small writes at once instead of waiting to coalesce (Nagle off).
    public func setNoDelay(_ on: Bool = true) throws(Errno) {
        try setOption(Int32(IPPROTO_TCP), TCP_NODELAY, on ? 1 : 0)
    }

    /// `SO_RCVBUF` (the kernel doubles the value for bookkeeping and clamps it to rmem_max).
    public func setReceiveBufferSize(_ bytes: Int) throws(Errno) {
        try setOption(SOL_SOCKET, SO_RCVBUF, Int32(clamping: bytes))
    }

    /// `SO_SNDBUF` (the kernel doubles the value and clamps it to wmem_max).
    public func setSendBufferSize(_ bytes: Int) throws(Errno) {
        try setOption(SOL_SOCKET, SO_SNDBUF, Int32(clamping: bytes))
    }

    /// `SO_BINDTODEVICE`: traffic only through interface `name` (needs CAP_NET_RAW before 5.7).
    /// An empty name removes the binding.
    public func bindToDevice(_ name: String) throws(Errno) {
        try retryingEINTR { airlock_bind_to_device(fd, name) }
    }

    /// `getsockopt(SO_ERROR)`: the pending error, cleared by reading; nil when none.
    public func takeError() -> Errno? {
        var value: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) != 0 { return Errno.current }
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// `getsockname(2)`: the bound address (the real port after binding port 0).
    public func localAddress() throws(Errno) -> SocketAddress {
        try address { getsockname(fd, $0, $1) }
    }

    /// `getpeername(2)`: the connected peer's address.
    public func remoteAddress() throws(Errno) -> SocketAddress {
        try address { getpeername(fd, $0, $1) }
    }

    private func address(_ call: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) throws(Errno) -> SocketAddress {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call($0, &len) }
        }
        if rc != 0 { throw Errno.current }
        guard let a = SocketAddress(&storage) else { throw Errno(rawValue: EAFNOSUPPORT) }
        return a
    }

    func setOption(_ level: Int32, _ name: Int32, _ value: Int32) throws(Errno) {
        var v = value
        try retryingEINTR { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }
}
