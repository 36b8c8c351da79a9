#if canImport(Glibc)
import Glibc
#endif
import AirlockCore

/// The relay's local control socket: a `SOCK_SEQPACKET` Unix socket on an `EventLoop` that
/// delivers each message with the kernel-verified identity of its sender and the descriptors it
/// carried.
///
/// Loop thread only; while open the loop keeps the server alive. Callers are identified by
/// `SO_PEERCRED` (`ControlPeer`), never by what they say, and hand over their stdio, working
/// directory and key as open descriptors, so the root relay never opens a path a caller names.
///
/// Messages are at most `ControlSocket.maxPayload` bytes with at most `ControlSocket.maxFDs`
/// descriptors. A truncated message (payload or descriptors) or an empty one closes the
/// connection; descriptors that came with it are closed. Received descriptors are close-on-exec.
///
/// Every connection ends with exactly one `onDisconnect`, delivered from the loop (never from
/// inside `send` or `disconnect`), unless the server was closed first: after `close()` no
/// callback runs.
public final class ControlServer {
    /// Why a connection ended.
    public enum DisconnectReason: Equatable, Sendable {
        /// The peer closed its end (or its process exited).
        case peerClosed
        /// `disconnect(_:)` was called.
        case closedByServer
        /// The peer broke the protocol (oversize or truncated message, too many descriptors).
        case protocolViolation(String)
        /// The peer left more than `maxQueuedReplies` replies unread.
        case tooSlow
        /// A socket call failed.
        case failed(Errno)
    }

    public let path: String
    public let loop: EventLoop
    public private(set) var isClosed = false

    /// A message arrived. The handler owns the descriptors and must close them (with no handler
    /// they are closed at once).
    public var onMessage: ((ControlPeer, [UInt8], [Int32]) -> Void)?
    /// A connection ended (once per connection, from the loop).
    public var onDisconnect: ((ControlPeer, DisconnectReason) -> Void)?
    /// Accepting failed (e.g. out of descriptors); accepting resumes after `retryDelay`.
    public var onError: ((Errno) -> Void)?

    /// Connections beyond this are closed as soon as they are accepted.
    public var maxConnections = 64
    /// Replies the kernel could not take yet, per connection; one more disconnects the peer.
    public var maxQueuedReplies = 32
    /// Messages handled per readiness event before yielding to other work.
    public var maxMessagesPerEvent = 16
    public var retryDelay: Duration = .milliseconds(100)

    let listener: ControlSocket
    var connections: [UInt64: Connection] = [:]
    private var nextPeerID: UInt64 = 1
    private var retryTimer: TimerID?
    private var socketIdentity: (UInt64, UInt64)?
    /// One receive buffer for all connections: a message is copied out before its handler runs.
    private let buffer: UnsafeMutableRawBufferPointer

    /// The peers connected now.
    public var peers: [ControlPeer] { connections.values.map(\.peer).sorted { $0.id < $1.id } }

    /// Prepares the directory of `path` (see `prepareDirectory`: created 0750 owned by us and
    /// `group` if missing, refused if looser or owned by someone else), replaces a stale socket
    /// file (never a live one), binds, sets the socket's `mode` and group, and listens.
    public init(path: String, loop: EventLoop, group: UInt32? = nil, mode: UInt32 = 0o660) throws(ControlSocketError) {
        guard let dir = ControlServer.parentDirectory(of: path) else {
            throw .system(.EINVAL, context: "control socket path \(path) must be absolute and name a file")
        }
        try ControlServer.prepareDirectory(dir, group: group)
        try ControlServer.removeStaleSocket(path)
        let s: ControlSocket
        do { s = try ControlSocket.make(nonBlocking: true) } catch { throw .system(error, context: "socket") }
        var bound: (UInt64, UInt64)?
        do throws(ControlSocketError) {
            do { try s.bind(path: path) } catch { throw .system(error, context: "bind \(path)") }
            bound = ControlServer.identity(of: path)
            // Before listen(), so no one connects while the socket has the umask's mode.
            if chmod(path, mode) != 0 { throw .system(.current, context: "chmod \(path)") }
            if let group, chown(path, geteuid(), group) != 0 { throw .system(.current, context: "chown \(path)") }
            do { try s.listen() } catch { throw .system(error, context: "listen \(path)") }
        } catch {
            s.close()
            if bound != nil { unlink(path) }
            throw error
        }
        socketIdentity = bound
        self.path = path
        self.loop = loop
        self.listener = s
        buffer = .allocate(byteCount: ControlSocket.maxPayload, alignment: 8)
        do { try loop.register(s.fd, interest: .read) { [self] _ in acceptLoop() } } catch {
            s.close()
            unlink(path)
            buffer.deallocate()
            throw .system(error, context: "registering \(path)")
        }
    }

    deinit {
        if !isClosed { closeResources() }
        buffer.deallocate()
    }

    /// Stops listening, closes every connection and removes the socket file (if it is still
    /// ours). No callback runs afterwards.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if let retryTimer { loop.cancel(retryTimer) }
        loop.deregister(listener.fd)
        for conn in connections.values { conn.teardown(loop: loop) }
        closeResources()
        onMessage = nil
        onDisconnect = nil
        onError = nil
    }

    private func closeResources() {
        listener.close()
        connections = [:]
        if let mine = socketIdentity, let now = ControlServer.identity(of: path), mine == now { unlink(path) }
    }

    /// Closes the connection to `peer` (queued replies are dropped); `onDisconnect` with
    /// `.closedByServer` follows from the loop. Unknown or gone peers are ignored.
    public func disconnect(_ peer: ControlPeer) {
        guard let conn = connections[peer.id] else { return }
        end(conn, .closedByServer)
    }

    /// Sends one message to `peer` with `fds` (which stay the caller's: they are duplicated if
    /// the message must wait). Throws `.system(ENOTCONN)` for a peer that is gone; a socket
    /// failure or too many waiting replies also ends the connection (`onDisconnect` follows).
    public func send(to peer: ControlPeer, _ bytes: [UInt8], fds: [Int32] = []) throws(ControlSocketError) {
        guard let conn = connections[peer.id] else { throw .system(.ENOTCONN, context: "send to \(peer)") }
        guard !bytes.isEmpty else { throw .invalidMessage("empty payload") }
        guard bytes.count <= ControlSocket.maxPayload else { throw .messageTooLarge(size: bytes.count) }
        guard fds.count <= ControlSocket.maxFDs else {
            throw .invalidMessage("\(fds.count) descriptors exceed cap of \(ControlSocket.maxFDs)")
        }
        if conn.pending.isEmpty {
            do {
                if try bytes.withBytes({ raw throws(Errno) in try conn.socket.send(raw, fds: fds) }) { return }
            } catch {
                end(conn, ControlServer.reason(for: error))
                throw .system(error, context: "send to \(peer)")
            }
        }
        guard conn.pending.count < maxQueuedReplies else {
            end(conn, .tooSlow)
            throw .system(Errno(rawValue: ENOBUFS), context: "send to \(peer): \(maxQueuedReplies) replies unread")
        }
        var copies: [Int32] = []
        for fd in fds {
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else {
                let e = Errno.current
                copies.forEach { _ = Glibc.close($0) }
                throw .system(e, context: "dup for \(peer)")
            }
            copies.append(copy)
        }
        conn.pending.append((bytes, copies))
    }

    // MARK: accepting

    private func acceptLoop() {
        var accepted = 0
        while !isClosed && retryTimer == nil {
            let next: ControlSocket?
            do throws(Errno) { next = try listener.accept() } catch {
                if error == .ECONNABORTED || error == .EPROTO { continue }
                onError?(error)
                guard !isClosed else { return }
                retryTimer = loop.schedule(after: retryDelay) { [self] in
                    retryTimer = nil
                    acceptLoop()
                }
                return
            }
            guard let s = next else { return }
            adopt(s)
            accepted += 1
            if accepted >= maxMessagesPerEvent {
                loop.runSoon { [self] in acceptLoop() }
                return
            }
        }
    }

    private func adopt(_ s: ControlSocket) {
        guard connections.count < maxConnections,
              let peer = try? ControlPeer.of(s, id: nextPeerID) else {
            s.close()
            return
        }
        nextPeerID += 1
        let conn = Connection(socket: s, peer: peer)
        do { try loop.register(s.fd, interest: [.read, .write]) { [self] _ in service(conn) } } catch {
            s.close()
            return
        }
        connections[peer.id] = conn
    }

    // MARK: connections

    /// Edge-triggered: flush what waits, then read until the kernel has nothing more (or the
    /// per-event budget is spent, then continue on the next turn).
    private func service(_ conn: Connection) {
        flush(conn)
        var handled = 0
        while !conn.closed && !isClosed {
            let received: ControlSocket.Received?
            do { received = try conn.socket.receive(into: buffer) } catch {
                end(conn, ControlServer.reason(for: error))
                return
            }
            guard let r = received else { return }
            if r.truncated || r.count == 0 {
                r.fds.forEach { _ = Glibc.close($0) }
                end(conn, r.truncated ? .protocolViolation("message over \(ControlSocket.maxPayload) bytes or \(ControlSocket.maxFDs) descriptors")
                                      : (r.fds.isEmpty ? .peerClosed : .protocolViolation("empty message")))
                return
            }
            let bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<r.count]))
            if let onMessage { onMessage(conn.peer, bytes, r.fds) } else { r.fds.forEach { _ = Glibc.close($0) } }
            handled += 1
            if handled >= maxMessagesPerEvent {
                loop.runSoon { [self] in if !conn.closed { service(conn) } }
                return
            }
        }
    }

    private func flush(_ conn: Connection) {
        while !conn.closed, let (bytes, fds) = conn.pending.first {
            let sent: Bool
            do { sent = try bytes.withBytes { raw throws(Errno) in try conn.socket.send(raw, fds: fds) } } catch {
                end(conn, ControlServer.reason(for: error))
                return
            }
            guard sent else { return }
            conn.pending.removeFirst()
            fds.forEach { _ = Glibc.close($0) }
        }
    }

    /// A peer that went away shows up as EPIPE or ECONNRESET on whichever call noticed first.
    private static func reason(for error: Errno) -> DisconnectReason {
        error == .EPIPE || error == .ECONNRESET ? .peerClosed : .failed(error)
    }

    private func end(_ conn: Connection, _ reason: DisconnectReason) {
        guard !conn.closed else { return }
        conn.teardown(loop: loop)
        connections[conn.peer.id] = nil
        loop.runSoon { [self] in
            if !isClosed { onDisconnect?(conn.peer, reason) }
        }
    }

    /// One accepted connection and the replies waiting for room in the peer's queue.
    final class Connection {
        let socket: ControlSocket
        let peer: ControlPeer
        var pending: [(bytes: [UInt8], fds: [Int32])] = []
        var closed = false

        init(socket: ControlSocket, peer: ControlPeer) {
            self.socket = socket
            self.peer = peer
        }

        func teardown(loop: EventLoop) {
            guard !closed else { return }
            closed = true
            loop.deregister(socket.fd)
            socket.close()
            for item in pending { item.fds.forEach { _ = Glibc.close($0) } }
            pending = []
        }

        deinit { if !closed { socket.close(); pending.forEach { $0.fds.forEach { _ = Glibc.close($0) } } } }
    }
}
