import AirlockCore
import AirlockWire

/// One yamux stream of a `Libp2pConnection`, after its multistream-select negotiation.
///
/// **Thread:** the connection's loop only. **Reading**, two modes:
/// * buffered (default): bytes collect in `inbox` and `onReadable` fires; the handler takes what
///   it needs with `readMessage`/`take`, which return window credit to the sender. At most one
///   receive window is ever buffered (the sender cannot send more than we granted).
/// * raw (`onData` set): each chunk is handed over as it is decrypted, valid only during the call;
///   the handler calls `consume(n)` once it forwarded or copied the bytes, returning credit.
///   Switching to raw mode delivers what `inbox` already holds first.
///
/// **Writing:** `write(_:)` takes what the send window allows now and returns the count (the
/// forwarding path); `send(_:)` queues a whole small message (control protocols), which goes out
/// as the window allows. `onWritable` fires when window credit comes back after a short write.
public final class Libp2pStream {
    public enum End: Sendable, Equatable {
        /// Both halves closed normally.
        case closed
        /// The remote reset the stream (or refused it).
        case reset
        /// The connection under the stream went away.
        case connectionClosed
        /// We reset it.
        case localReset
    }

    public let connection: Libp2pConnection
    public let id: UInt32
    public let isInbound: Bool
    /// The negotiated protocol.
    public internal(set) var protocolID: String = ""

    /// Buffered mode: unread bytes. Take them with `readMessage`/`take` (which return credit).
    public internal(set) var inbox = ByteBuffer()
    public var onReadable: (() -> Void)?
    /// Raw mode: every chunk as it arrives; call `consume` when done with it.
    public var onData: ((UnsafeRawBufferPointer) -> Void)? {
        didSet { if onData != nil, !inbox.isEmpty { drainInboxRaw() } }
    }
    public var onWritable: (() -> Void)?
    /// The remote half-closed (FIN): nothing more will arrive.
    public var onRemoteClose: (() -> Void)?
    /// The stream is gone (normally or not); called once, then every callback is dropped.
    public var onEnd: ((End) -> Void)?

    public internal(set) var remoteClosed = false
    public internal(set) var localClosed = false
    public internal(set) var ended: End?
    /// Payload bytes received and sent on this stream.
    public internal(set) var bytesIn: UInt64 = 0
    public internal(set) var bytesOut: UInt64 = 0

    /// Outgoing bytes waiting for window credit (`send` only).
    var outbox = ByteBuffer()
    var closeAfterOutbox = false
    /// Inbound negotiation, until a protocol is selected.
    var listener: MultistreamListener?
    /// Outbound negotiation, until the remote echoes.
    var dialer: MultistreamDialer?
    var negotiated: ((Result<Libp2pStream, StreamError>) -> Void)?
    var negotiationTimer: TimerID?

    init(connection: Libp2pConnection, id: UInt32, inbound: Bool) {
        self.connection = connection
        self.id = id
        self.isInbound = inbound
    }

    public var remotePeer: PeerID { connection.remotePeer }
    public var isOpen: Bool { ended == nil }

    // MARK: reading

    /// Takes one uvarint-length-prefixed message of at most `cap` bytes from `inbox`, if whole.
    public func readMessage(cap: Int) throws(DecodeError) -> [UInt8]? {
        let before = inbox.readableBytes
        let m = try Delimited.read(from: &inbox, cap: cap)
        consume(before - inbox.readableBytes)
        return m
    }

    /// Takes up to `max` buffered bytes.
    public func take(max: Int = .max) -> [UInt8] {
        let n = min(max, inbox.readableBytes)
        let out = inbox.readBytes(count: n) ?? []
        consume(n)
        return out
    }

    /// Returns `n` bytes of receive window to the sender.
    public func consume(_ n: Int) {
        guard n > 0, ended == nil else { return }
        connection.session.yamux?.consumed(stream: id, n)
        connection.scheduleFlush()
    }

    func deliver(_ raw: UnsafeRawBufferPointer) {
        bytesIn += UInt64(raw.count)
        if let onData {
            onData(raw)
        } else {
            inbox.write(raw)
            onReadable?()
        }
    }

    /// After negotiation: hands bytes that arrived with the protocol's echo or proposal to the
    /// reader, in whichever mode it chose.
    func deliverInbox() {
        guard ended == nil, !inbox.isEmpty else { return }
        if onData != nil { drainInboxRaw() } else { onReadable?() }
    }

    private func drainInboxRaw() {
        guard let onData, !inbox.isEmpty else { return }
        let bytes = inbox.readAll()
        bytes.withUnsafeBytes { onData($0) }
    }

    // MARK: writing

    /// Bytes `write` would take now.
    public var sendWindow: Int { ended == nil && outbox.isEmpty ? connection.sendWindow(stream: id) : 0 }

    /// Sends as much of `bytes` as the window allows now; returns how many it took.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard ended == nil, !localClosed, outbox.isEmpty, dialer == nil || dialer!.mayWriteApplicationData else { return 0 }
        let n = connection.send(stream: id, bytes)
        bytesOut += UInt64(n)
        return n
    }

    /// Queues all of `bytes` (small control messages); they go out as the window allows.
    public func send(_ bytes: [UInt8]) {
        guard ended == nil, !localClosed, !bytes.isEmpty else { return }
        outbox.write(bytes)
        flushOutbox()
    }

    func flushOutbox() {
        guard ended == nil, !outbox.isEmpty, dialer == nil || dialer!.mayWriteApplicationData else { return }
        let pending = outbox.readableView
        let n = pending.withUnsafeBytes { connection.send(stream: id, $0) }
        bytesOut += UInt64(n)
        outbox.skip(n)
        if outbox.isEmpty && closeAfterOutbox { closeAfterOutbox = false; closeWrite() }
    }

    /// Half-closes our side (FIN after anything queued by `send`).
    public func closeWrite() {
        guard ended == nil, !localClosed else { return }
        if !outbox.isEmpty || (dialer != nil && !dialer!.mayWriteApplicationData) { closeAfterOutbox = true; return }
        localClosed = true
        connection.closeWrite(stream: id)
    }

    /// Resets the stream: both directions end at once, buffered data is dropped.
    public func reset() {
        guard ended == nil else { return }
        connection.reset(stream: id)
        finish(.localReset)
    }

    func windowOpened() {
        flushOutbox()
        if outbox.isEmpty { onWritable?() }
    }

    func remoteFinished() {
        guard !remoteClosed else { return }
        remoteClosed = true
        onRemoteClose?()
    }

    /// Ends the stream and drops callbacks (breaking cycles through captured handlers).
    func finish(_ how: End) {
        guard ended == nil else { return }
        ended = how
        if let t = negotiationTimer { connection.loop.cancel(t); negotiationTimer = nil }
        let cb = onEnd
        let pending = negotiated
        onReadable = nil; onData = nil; onWritable = nil; onRemoteClose = nil; onEnd = nil; negotiated = nil
        inbox.clear(); outbox.clear()
        connection.forget(stream: id)
        pending?(.failure(StreamError("stream ended during negotiation (\(how))")))
        cb?(how)
    }
}

/// Why a stream could not be opened or negotiated.
public struct StreamError: Error, Sendable, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}
