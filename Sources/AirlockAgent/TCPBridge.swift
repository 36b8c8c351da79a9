#if canImport(Glibc)
import Glibc
#endif
import AirlockIO

/// Joins a plain TCP connection and a negotiated libp2p stream (`/airlock/tcp/1.0.0` or an
/// exit stream after its status answer), copying bytes both ways until both ends are done.
///
/// **Thread:** the loop that owns both (they must share it). **Ownership:** the bridge takes over
/// every callback of both ends (`onRead`, `onEOF`, `onWritable`, `onClose` of the connection;
/// `onData`, `onWritable`, `onRemoteClose`, `onEnd` of the stream); they keep it alive until
/// both have ended, so the caller needs no reference. `onFinish` reports the end once.
///
/// **Back-pressure, without unbounded buffers** (design.md §3, §7):
/// * TCP → stream: each read is written into the stream as far as its send window takes it.
///   A remainder (at most one read, `pendingCap`) is kept and the TCP connection stops reading
///   until the stream's `onWritable` has drained it. Pausing is right here: the connection
///   carries only this stream, and the kernel's receive buffer then slows the sender.
/// * stream → TCP: each chunk is handed to the connection (which queues what the kernel does not
///   take now) and its receive credit returned with `consume` only while the connection
///   `isWritable`. Past the connection's high-water mark the credit is held until its
///   `onWritable`, so the remote stops at its window: the connection's queue never exceeds its
///   high-water mark plus one stream receive window.
///
/// **Ends:** EOF from TCP half-closes the stream (after the pending bytes went out); the
/// stream's FIN half-closes TCP (after its queue drained). A stream reset, or its connection
/// going away, aborts the TCP connection with an RST (so the client does not mistake a cut
/// transfer for a complete one); a TCP error resets the stream.
public final class TCPBridge {
    /// How the bridge ended.
    public enum Outcome: Sendable, Equatable {
        /// Both directions finished with FIN.
        case completed
        /// The stream was reset, by the remote or because its connection closed.
        case streamFailed(Libp2pStream.End)
        /// The TCP connection failed (reset, refused, …).
        case tcpFailed(Errno)
    }

    /// The most TCP → stream bytes held at once: one read of the loop's shared buffer.
    public static let pendingCap = EventLoop.readBufferSize

    public let tcp: TCPConnection
    public let stream: Libp2pStream

    /// Bytes the stream took from the TCP side (including the initial payload).
    public private(set) var bytesToStream: UInt64 = 0
    /// Bytes handed to the TCP connection from the stream.
    public private(set) var bytesToTCP: UInt64 = 0
    /// TCP → stream bytes waiting for send window.
    public var pendingCount: Int { pending.count - pendingStart }
    /// The largest `pendingCount` seen (a metric, and what tests assert against `pendingCap`;
    /// only an initial payload larger than the cap can take it higher).
    public private(set) var peakPending = 0
    /// Stream bytes written to TCP whose receive credit is held back.
    public private(set) var heldCredit = 0
    /// The largest TCP output queue seen right after a write from the stream.
    public private(set) var peakTCPQueued = 0
    public private(set) var outcome: Outcome?

    /// Called once when both ends have finished, on the loop.
    public var onFinish: ((TCPBridge) -> Void)?

    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var tcpEOF = false
    private var tcpClosed = false
    private var streamEnded = false
    private var started = false

    /// - Parameter initialPayload: bytes to send on the stream before anything read from TCP
    ///   (what followed a proxy handshake in the client's first reads). It is held whole while
    ///   the TCP connection stays paused, so it may exceed `pendingCap`; the caller bounds it
    ///   (a handshake's leftover is at most its head cap plus one read).
    public init(tcp: TCPConnection, stream: Libp2pStream, initialPayload: [UInt8] = []) {
        precondition(tcp.loop === stream.connection.loop, "a bridge's ends must share one loop")
        self.tcp = tcp
        self.stream = stream
        pending = initialPayload
    }

    /// Installs the callbacks and starts moving bytes. Call once, on the loop. A caller that
    /// paused the connection's reading during a proxy handshake leaves it paused: the bridge
    /// resumes it once the initial payload is out (TCP bytes read with no `onRead` are lost).
    public func start() {
        precondition(!started, "TCPBridge started twice")
        started = true
        tcp.onRead = { [self] raw in tcpRead(raw) }
        tcp.onEOF = { [self] in tcpEOF = true; if pendingCount == 0 { stream.closeWrite() } }
        tcp.onWritable = { [self] in returnCredit() }
        tcp.onClose = { [self] error in tcpDidClose(error) }
        stream.onWritable = { [self] in flushPending() }
        stream.onRemoteClose = { [self] in tcp.shutdownWrite() }
        stream.onEnd = { [self] end in streamDidEnd(end) }
        // Last: setting onData delivers bytes the stream already buffered.
        stream.onData = { [self] raw in streamData(raw) }
        if tcp.state == .closed { tcpClosed = true }
        if let end = stream.ended {
            streamEnded = true
            if end != .closed { outcome = .streamFailed(end) }
        }
        if tcpClosed || streamEnded { abortBoth(); return }
        // FINs that came before the bridge: their callbacks will not fire again.
        if stream.remoteClosed { tcp.shutdownWrite() }
        if tcp.inputClosed { tcpEOF = true }
        if pendingCount > 0 {
            peakPending = pendingCount
            tcp.pauseReading()
            flushPending()
        } else if tcpEOF {
            stream.closeWrite()
        } else {
            tcp.resumeReading()
        }
    }

    // MARK: TCP → stream

    private func tcpRead(_ raw: UnsafeRawBufferPointer) {
        guard !streamEnded else { return }
        if pendingCount > 0 {
            // Only a read already in flight when we paused lands here; keep order.
            hold(raw)
            return
        }
        let n = stream.write(raw)
        bytesToStream += UInt64(n)
        if n < raw.count { hold(UnsafeRawBufferPointer(rebasing: raw[n...])) }
    }

    private func hold(_ raw: UnsafeRawBufferPointer) {
        if pendingStart > 0 && pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        }
        pending.append(contentsOf: raw.bindMemory(to: UInt8.self))
        peakPending = max(peakPending, pendingCount)
        tcp.pauseReading()
    }

    private func flushPending() {
        guard pendingCount > 0, !streamEnded else { return }
        let n = pending.withUnsafeBytes { stream.write(UnsafeRawBufferPointer(rebasing: $0[pendingStart...])) }
        bytesToStream += UInt64(n)
        pendingStart += n
        guard pendingCount == 0 else { return }
        pending.removeAll(keepingCapacity: true)
        pendingStart = 0
        if tcpEOF { stream.closeWrite() } else { tcp.resumeReading() }
    }

    // MARK: stream → TCP

    private func streamData(_ raw: UnsafeRawBufferPointer) {
        tcp.write(raw)
        bytesToTCP += UInt64(raw.count)
        peakTCPQueued = max(peakTCPQueued, tcp.outputQueued)
        if heldCredit == 0 && tcp.isWritable {
            stream.consume(raw.count)
        } else {
            heldCredit += raw.count
        }
    }

    private func returnCredit() {
        guard heldCredit > 0 else { return }
        let n = heldCredit
        heldCredit = 0
        stream.consume(n)
    }

    // MARK: ends

    private func tcpDidClose(_ error: Errno?) {
        tcpClosed = true
        if let error {
            if outcome == nil { outcome = .tcpFailed(error) }
            stream.reset()
        } else if stream.isOpen {
            // An orderly close after both FINs: our half of the stream closes too, which ends
            // it when the remote has finished. Anything else still open is cut off.
            if pendingCount == 0 && stream.remoteClosed { stream.closeWrite() }
            if stream.isOpen { stream.reset() }
        }
        finishIfDone()
    }

    private func streamDidEnd(_ end: Libp2pStream.End) {
        streamEnded = true
        if end != .closed {
            if outcome == nil { outcome = .streamFailed(end) }
            abortTCP()
        }
        finishIfDone()
    }

    private func abortBoth() {
        if !streamEnded { stream.reset() }
        abortTCP()
    }

    /// Closes the TCP connection with an RST (`SO_LINGER` 0) instead of a FIN.
    private func abortTCP() {
        tcp.abort()
    }

    private func finishIfDone() {
        guard tcpClosed && streamEnded else { return }
        if outcome == nil { outcome = .completed }
        pending = []
        pendingStart = 0
        let callback = onFinish
        onFinish = nil
        callback?(self)
    }
}
