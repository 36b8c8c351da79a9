/// A listening TCP socket on an `EventLoop` that hands each accepted socket to `onAccept`.
///
/// Loop thread only. The listener owns its fd; while open the loop keeps it alive. Accepted
/// sockets are non-blocking and close-on-exec; the callback owns them (typically wrapping each
/// in `TCPConnection(socket:loop:)`; with no `onAccept` set they are closed at once).
///
/// Accepting is edge-triggered: up to `maxAcceptsPerEvent` per turn, then the rest on the next
/// turn. Running out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) is
/// reported to `onError` and accepting pauses for `retryDelay`, since the kernel will not
/// report the still-pending connections again.
public final class TCPListener {
    public let loop: EventLoop
    public let socket: Socket
    /// The bound address (with the real port when port 0 was asked for).
    public let address: SocketAddress
    public private(set) var isClosed = false

    public var onAccept: ((Socket) -> Void)?
    public var onError: ((Errno) -> Void)?

    public var maxAcceptsPerEvent = 64
    public var retryDelay: Duration = .milliseconds(100)

    private var acceptScheduled = false
    private var retryTimer: TimerID?

    /// Binds, listens and registers. `device` binds to a network interface (SO_BINDTODEVICE).
    public convenience init(on address: SocketAddress, loop: EventLoop, backlog: Int32 = 4096, device: String? = nil) throws(Errno) {
        try self.init(socket: try Socket.listenTCP(on: address, backlog: backlog, device: device), loop: loop)
    }

    /// Adopts `socket`, which must already be bound and listening (for example one created inside
    /// another network namespace: a socket keeps the namespace it was made in, so the loop may
    /// serve it from any thread). Takes ownership: on failure the socket is closed and the error
    /// thrown. Accepted sockets are made non-blocking by `accept4`, whatever `socket`'s own mode.
    public init(socket s: Socket, loop: EventLoop) throws(Errno) {
        do throws(Errno) {
            self.address = try s.localAddress()
            self.loop = loop
            self.socket = s
            try loop.register(s.fd, interest: .read) { [self] _ in acceptLoop() }
        } catch {
            s.close()
            throw error
        }
    }

    deinit {
        if !isClosed { socket.close() }
    }

    /// Stops listening and closes the fd. Pending, unaccepted connections are reset by the kernel.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if let retryTimer { loop.cancel(retryTimer) }
        loop.deregister(socket.fd)
        socket.close()
        onAccept = nil
        onError = nil
    }

    private func acceptLoop() {
        var accepted = 0
        while !isClosed && retryTimer == nil {
            let next: Socket?
            do throws(Errno) { next = try socket.accept() } catch {
                switch error {
                case .ECONNABORTED, .EPROTO:
                    continue  // that client gave up; others may be waiting
                default:
                    onError?(error)
                    guard !isClosed else { return }
                    retryTimer = loop.schedule(after: retryDelay) { [self] in
                        retryTimer = nil
                        acceptLoop()
                    }
                    return
                }
            }
            guard let s = next else { return }
            if let onAccept { onAccept(s) } else { s.close() }
            accepted += 1
            if accepted >= maxAcceptsPerEvent {
                scheduleAccept()
                return
            }
        }
    }

    private func scheduleAccept() {
        guard !acceptScheduled else { return }
        acceptScheduled = true
        loop.runSoon { [self] in
            acceptScheduled = false
            acceptLoop()
        }
    }
}
