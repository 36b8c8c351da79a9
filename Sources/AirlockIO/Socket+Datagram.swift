#if canImport(Glibc)
import Glibc
#endif

/// UDP: the few calls a datagram server needs (the shim's DNS stub). Same rules as the TCP
/// calls: non-blocking and close-on-exec from birth, `EINTR` retried, `nil` for `EAGAIN`.
extension Socket {
    /// A UDP socket bound to `address` (port 0 picks a free port; read it back with
    /// `localAddress()`). `socket(SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC)`, IPv6-only for
    /// IPv6 addresses, `bind`. No `SO_REUSEADDR`: nobody else may bind the same address.
    public static func bindUDP(on address: SocketAddress) throws(Errno) -> Socket {
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let s = try Socket(fd: retryingEINTR { Glibc.socket(address.family, type, 0) })
        do throws(Errno) {
            if address.isIPv6 { try s.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            if address.withSockAddr({ sa, len in Glibc.bind(s.fd, sa, len) }) != 0 { throw Errno.current }
            return s
        } catch {
            s.close()
            throw error
        }
    }

    /// `recvfrom(2)` of one datagram into `buffer`: its length (a longer datagram is cut to
    /// `buffer.count`, the rest discarded) and its sender; `nil` when none is waiting.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (count: Int, from: SocketAddress)? {
        while true {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = try nonBlocking {
                withUnsafeMutablePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.recvfrom(fd, buffer.baseAddress, buffer.count, 0, $0, &len) }
                }
            }
            guard let n else { return nil }
            // Only a socket of another family could see another sender; skip rather than trap.
            if let from = SocketAddress(&storage) { return (n, from) }
        }
    }

    /// `sendto(2)` of `bytes` as one datagram to `address`. False when the send buffer is full
    /// (the datagram is dropped, as UDP may).
    public func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress) throws(Errno) -> Bool {
        try nonBlocking {
            address.withSockAddr { sa, len in Glibc.sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), sa, len) }
        } != nil
    }
}
