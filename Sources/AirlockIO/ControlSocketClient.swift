#if canImport(Glibc)
import Glibc
#endif
import AirlockCore

/// The caller's end of the control socket (`airlock run` and other CLI commands): blocking,
/// one thread, no event loop.
///
/// The client owns its fd (close-on-exec, so a started command does not inherit it) and closes
/// it on `close()` or deinit. Descriptors it sends stay the caller's; descriptors it receives are
/// close-on-exec and belong to the caller of `receive`.
public final class ControlClient {
    /// The socket, e.g. to wait on it together with other descriptors.
    public let socket: ControlSocket
    public private(set) var isClosed = false

    private init(socket: ControlSocket) { self.socket = socket }

    deinit { if !isClosed { socket.close() } }

    /// Connects to the control socket at `path`. `ENOENT` or `ECONNREFUSED`: no relay is running
    /// there; `EACCES`: the caller is neither root nor in the socket's group.
    public static func connect(path: String) throws(Errno) -> ControlClient {
        let s = try ControlSocket.make(nonBlocking: false)
        do throws(Errno) {
            try s.connect(path: path)
        } catch {
            s.close()
            throw error
        }
        return ControlClient(socket: s)
    }

    /// Sends one message with `fds` (at most `ControlSocket.maxFDs`), waiting while the relay's
    /// queue is full. `EMSGSIZE` for an empty or oversize payload, `EINVAL` for too many fds,
    /// `EPIPE` when the relay has closed the connection.
    public func send(_ bytes: [UInt8], fds: [Int32] = []) throws(Errno) {
        guard !isClosed else { throw .EBADF }
        guard !bytes.isEmpty, bytes.count <= ControlSocket.maxPayload else { throw Errno(rawValue: EMSGSIZE) }
        guard fds.count <= ControlSocket.maxFDs else { throw .EINVAL }
        let sent = try bytes.withBytes { raw throws(Errno) in try socket.send(raw, fds: fds) }
        precondition(sent, "blocking control socket reported EAGAIN")
    }

    /// Waits up to `timeout` (forever when nil) for one message. Returns nil when the relay
    /// closed the connection. `ETIMEDOUT` when nothing came in time; `EMSGSIZE` when the message
    /// did not fit the caps (its descriptors are closed; the connection should be dropped).
    public func receive(timeout: Duration? = nil) throws(Errno) -> (bytes: [UInt8], fds: [Int32])? {
        guard !isClosed else { throw .EBADF }
        try waitReadable(timeout: timeout)
        var bytes = [UInt8](repeating: 0, count: ControlSocket.maxPayload)
        let received = try bytes.withMutableBytes { raw throws(Errno) in try socket.receive(into: raw) }
        guard let r = received else { throw .EAGAIN }  // poll said readable; cannot happen when blocking
        if r.truncated {
            r.fds.forEach { _ = Glibc.close($0) }
            throw Errno(rawValue: EMSGSIZE)
        }
        if r.count == 0 {
            r.fds.forEach { _ = Glibc.close($0) }
            return nil
        }
        bytes.removeSubrange(r.count...)
        return (bytes, r.fds)
    }

    /// Closes the connection; the relay sees the peer leave.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        socket.close()
    }

    private func waitReadable(timeout: Duration?) throws(Errno) {
        let deadline = timeout.map { MonotonicTime.now().advanced(by: $0) }
        while true {
            var ms: Int32 = -1
            if let deadline {
                // Rounded up, so a poll never returns just before the deadline and spins.
                let ns = MonotonicTime.now().nanoseconds(until: deadline)
                ms = Int32(min((ns + 999_999) / 1_000_000, UInt64(Int32.max)))
            }
            var p = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, ms)
            if n > 0 { return }
            if n == 0 { throw .ETIMEDOUT }
            if errno != EINTR { throw .current }
        }
    }
}
