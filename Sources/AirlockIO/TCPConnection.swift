#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection driven by an `EventLoop`: owns its socket, delivers reads, queues writes.
///
/// **Thread:** every member must be used on the loop's thread. **Ownership:** the connection owns
/// its fd; while open, the loop keeps the connection alive (callers need no strong reference),
/// and after close it drops every callback, which breaks cycles through captured upper layers.
///
/// **Reads** land in the loop's shared read buffer and are handed to `onRead` synchronously; the
/// bytes are valid only during the call (copy what you keep). A connection reads at most
/// `maxReadsPerEvent` buffers per turn, then yields to other connections.
///
/// **Writes** go straight to the socket when nothing is queued; only the remainder is copied
/// into the output queue. Writes are never refused: producers apply back-pressure themselves by
/// checking `isWritable` and waiting for `onWritable`. `isWritable` turns false when
/// `outputQueued` reaches `highWaterMark` and true again (with `onWritable`) once the queue has
/// drained to `lowWaterMark`.
///
/// **Ending:** the peer's FIN calls `onEOF` (writing is still allowed; with no `onEOF` set, the
/// connection closes once its output is flushed). `shutdownWrite()` sends our FIN after the
/// queue drains; when both directions are finished the connection closes by itself. `onClose`
/// is called exactly once, from the loop (never from inside a method you called), with `nil`
/// for an orderly or local close and the errno otherwise (`ECONNREFUSED`, `ECONNRESET`, `EPIPE`…).
public final class TCPConnection {
    public enum State: Sendable { case connecting, open, closed }

    public let loop: EventLoop
    /// The socket, for options (`setReceiveBufferSize`, …). Do not read, write or close it directly.
    public let socket: Socket
    public internal(set) var state: State

    /// Called once when an outgoing connection is established.
    public var onConnect: (() -> Void)?
    /// Called with each chunk read; the bytes are valid only during the call.
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    /// Called once when the peer has closed its sending side.
    public var onEOF: (() -> Void)?
    /// Called when the output queue drained to `lowWaterMark` after `isWritable` went false.
    public var onWritable: (() -> Void)?
    /// Called exactly once when the connection is closed: `nil` for orderly/local, else the error.
    public var onClose: ((Errno?) -> Void)?

    /// `isWritable` turns false when the queue reaches this many bytes.
    public var highWaterMark = 256 * 1024
    /// `isWritable` turns true again (and `onWritable` fires) when the queue drains to this.
    public var lowWaterMark = 64 * 1024
    /// Reads per readiness event before yielding to other connections (1 MiB at 64 KiB each).
    public var maxReadsPerEvent = 16

    /// Bytes accepted by `write` but not yet taken by the kernel.
    public var outputQueued: Int { output.count }
    /// False between reaching `highWaterMark` and draining to `lowWaterMark`, and once closed.
    public var isWritable: Bool { state != .closed && !backPressured && !writeClosing }
    public internal(set) var isReadingPaused = false
    /// The peer's FIN has been read.
    public internal(set) var inputClosed = false
    /// `shutdownWrite()` or `close(afterFlush: true)` was called.
    public var outputClosed: Bool { writeClosing }
    public internal(set) var bytesRead: UInt64 = 0
    public internal(set) var bytesWritten: UInt64 = 0

    var output = OutputQueue()
    var backPressured = false
    var writeClosing = false      // no more writes accepted
    var finSent = false
    var closeWhenFlushed = false
    var peerHungUp = false        // FIN or HUP seen: read until EOF, ignore short reads
    var readScheduled = false

    /// Takes ownership of a connected (e.g. accepted) non-blocking socket and registers it.
    /// Sets `TCP_NODELAY` (framed protocols want each frame sent now). On failure the socket is
    /// closed and the error thrown.
    public init(socket: Socket, loop: EventLoop) throws(Errno) {
        self.loop = loop
        self.socket = socket
        self.state = .open
        do throws(Errno) {
            try socket.setNoDelay()
            try register()
        } catch {
            socket.close()
            state = .closed
            throw error
        }
    }

    private init(connecting socket: Socket, loop: EventLoop, failed: Errno?) {
        self.loop = loop
        self.socket = socket
        self.state = failed == nil ? .connecting : .closed
        if let failed {
            loop.runSoon { [self] in finishClose(failed) }
        }
    }

    /// Starts connecting to `address` (non-blocking). Set the callbacks right after this returns:
    /// no callback can run before the caller yields to the loop. Success calls `onConnect`;
    /// every failure, immediate or not, arrives as `onClose(errno)`. Writes made while
    /// connecting are queued.
    public static func connect(to address: SocketAddress, on loop: EventLoop, device: String? = nil) -> TCPConnection {
        let started: (socket: Socket, connected: Bool)
        do {
            started = try Socket.connectTCP(to: address, device: device)
        } catch {
            return TCPConnection(connecting: Socket(fd: -1), loop: loop, failed: error)
        }
        let c = TCPConnection(connecting: started.socket, loop: loop, failed: nil)
        do throws(Errno) {
            try started.socket.setNoDelay()
            try c.register()
        } catch {
            c.teardown(error)
            return c
        }
        if started.connected {
            loop.runSoon { [c] in c.completeConnect() }
        }
        return c
    }

    deinit {
        // Reached only after deregistration (the loop's handler holds us while registered),
        // e.g. when the loop dropped everything at shutdown.
        if state != .closed { socket.close() }
    }

    private func register() throws(Errno) {
        try loop.register(socket.fd, interest: [.read, .write]) { [self] events in handle(events) }
    }
}

// MARK: - Public operations

extension TCPConnection {
    /// Sends `bytes`, queueing (copying) what the kernel does not take now.
    /// Dropped silently once the connection is closed or its output shut down.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard state != .closed, !writeClosing, !bytes.isEmpty else { return }
        var rest = bytes
        if state == .open && output.isEmpty {
            do throws(Errno) {
                if let n = try socket.write(bytes) {
                    bytesWritten += UInt64(n)
                    rest = UnsafeRawBufferPointer(rebasing: bytes[n...])
                }
            } catch {
                teardown(error)
                return
            }
        }
        if !rest.isEmpty { enqueue(rest) }
    }

    /// Sends `bytes` (see `write(_: UnsafeRawBufferPointer)`).
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Sends `first` then `second` in one gathering syscall (a frame header and its payload).
    public func write(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        guard state != .closed, !writeClosing else { return }
        guard state == .open && output.isEmpty else {
            enqueue(first); enqueue(second)
            return
        }
        var taken = 0
        do throws(Errno) {
            let n: Int? = try withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: 2) { parts throws(Errno) -> Int? in
                parts[0] = first
                parts[1] = second
                return try socket.writev(UnsafeBufferPointer(parts))
            }
            taken = n ?? 0
        } catch {
            teardown(error)
            return
        }
        bytesWritten += UInt64(taken)
        if taken < first.count {
            enqueue(UnsafeRawBufferPointer(rebasing: first[taken...]))
            enqueue(second)
        } else {
            enqueue(UnsafeRawBufferPointer(rebasing: second[(taken - first.count)...]))
        }
    }

    /// Closes at once with an RST (`SO_LINGER` 0) instead of a FIN, so the peer can tell a cut
    /// transfer from a complete one. Queued output is discarded.
    public func abort() {
        guard state != .closed else { return }
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(socket.fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    /// Sends FIN once everything queued is sent; reading continues. Later writes are dropped.
    /// When the peer's FIN has also been read, the connection closes.
    public func shutdownWrite() {
        guard state != .closed, !writeClosing else { return }
        writeClosing = true
        if state == .open && output.isEmpty { sendFIN() }
    }

    /// Closes the connection. With `afterFlush`, queued output is sent first (reads are then
    /// ignored); otherwise queued output is discarded and the fd closed now. `onClose(nil)`
    /// follows from the loop.
    public func close(afterFlush: Bool = false) {
        guard state != .closed else { return }
        if afterFlush && !output.isEmpty {
            writeClosing = true
            closeWhenFlushed = true
            isReadingPaused = true
            return
        }
        teardown(nil)
    }

    /// Stops reading: the kernel buffer fills and TCP flow control slows the peer. For plain
    /// splices; multiplexed connections must not pause (one slow stream would stall the rest).
    public func pauseReading() {
        isReadingPaused = true
    }

    /// Resumes reading. Reads start from the loop, never inside this call (the shared read
    /// buffer may be in use by the caller).
    public func resumeReading() {
        guard isReadingPaused, !closeWhenFlushed else { return }
        isReadingPaused = false
        scheduleRead()
    }
}
