import AirlockCore

/// A sans-I/O yamux session (`/yamux/1.0.0`, wire.md §4) for one secured connection.
///
/// Threading: single-threaded. One event loop owns the session; it is not Sendable and must not be
/// shared. The owner may call any method (except `receive`) from inside a `receive` callback.
///
/// Data path, built for forwarding without per-frame allocation:
/// * Input: the owner passes decrypted bytes to `receive` in whatever pieces they arrive. Payload
///   is handed out as `.data` slices of that input while a frame's body streams in; only a
///   partial 12-byte header is ever buffered.
/// * Output: every frame we send (ours and the automatic answers: ACKs, pongs, RSTs, window
///   updates, GoAway) is appended to one output buffer that the owner drains with `drainOutput`
///   or `takeOutput`, encrypts and writes. The buffer keeps its capacity between drains.
///   Each received frame adds at most one 12-byte answer, so output stays bounded as long as the
///   owner drains it after each `receive`.
///
/// Flow control: we grant `config.maxWindow` per stream and re-grant bytes as the owner reports
/// them `consumed`; `send` never exceeds the remote's grant and reports how much it took.
public final class YamuxSession {
    public let role: YamuxRole
    public let config: YamuxConfig

    /// Live streams only; entries leave when both halves close or on reset.
    var streams: [UInt32: YamuxStream] = [:]
    var inboundCount = 0
    var pendingOutbound = 0
    /// Next ID we open; UInt64 so running past 2^32-1 is detected, not wrapped.
    var nextStreamID: UInt64
    var nextPingValue: UInt32 = 0
    var localGoneAway = false
    public internal(set) var remoteGoneAway = false
    /// Set on the first fatal error; every later `receive` throws it again.
    public internal(set) var failure: YamuxError?
    /// Streams the remote opened beyond `config.maxInboundStreams`, each answered with RST.
    public internal(set) var inboundStreamsRefusedByCap = 0

    // Receive state: a partial header, or the remaining body of the current Data frame.
    var headerBytes = [UInt8](repeating: 0, count: YamuxFrame.headerSize)
    var headerFill = 0
    var bodyRemaining = 0
    var bodyStream: UInt32 = 0
    var bodyDeliver = false
    var bodyFin = false
    var receiving = false

    // Output: bytes in out[outStart...] are pending.
    var out: [UInt8] = []
    var outStart = 0
    /// Capacity kept across drains; a burst larger than this is released once drained.
    static let retainedOutputCapacity = 1 << 20

    public init(role: YamuxRole, config: YamuxConfig = YamuxConfig()) {
        self.role = role
        self.config = config
        self.nextStreamID = UInt64(role.firstStreamID)
    }

    // MARK: state

    /// Number of live streams (both directions).
    public var streamCount: Int { streams.count }
    /// Number of live streams the remote opened.
    public var inboundStreamCount: Int { inboundCount }
    /// Number of our streams still awaiting the remote's ACK.
    public var pendingOutboundCount: Int { pendingOutbound }
    /// Whether `stream` is live.
    public func isOpen(stream: UInt32) -> Bool { streams[stream] != nil }
    /// Whether we may still send on `stream` (live and not closed by us).
    public func isWritable(stream: UInt32) -> Bool {
        guard failure == nil, let s = streams[stream] else { return false }
        return !s.localClosed
    }
    /// Whether the remote can still send on `stream` (live and no FIN received).
    public func isReadable(stream: UInt32) -> Bool {
        guard let s = streams[stream] else { return false }
        return !s.remoteClosed
    }
    /// Bytes `send` would take now on `stream`; 0 if it is not writable.
    public func sendWindow(stream: UInt32) -> Int {
        guard failure == nil, let s = streams[stream], !s.localClosed else { return 0 }
        return Int(s.sendWindow)
    }

    // MARK: streams

    /// Opens a stream: appends WindowUpdate|SYN (delta = `maxWindow` - 256 KiB) and returns the
    /// new ID. Data may be sent at once, without waiting for the ACK (wire.md §4.2).
    public func openStream() throws(YamuxError) -> UInt32 {
        if failure != nil { throw .sessionFailed }
        if remoteGoneAway { throw .remoteWentAway }
        if localGoneAway { throw .localWentAway }
        guard pendingOutbound < config.maxPendingOutbound else { throw .tooManyPendingStreams }
        guard nextStreamID <= UInt64(UInt32.max) else { throw .streamIDsExhausted }
        let id = UInt32(nextStreamID)
        nextStreamID += 2
        streams[id] = YamuxStream(inbound: false, recvWindow: config.maxWindow)
        pendingOutbound += 1
        appendHeader(.windowUpdate, .syn, id, config.maxWindow - YamuxFrame.initialWindow)
        return id
    }

    /// Appends Data frames (each ≤ `maxFramePayload`) carrying as much of `data` as the send
    /// window allows, and returns how many bytes it took. Taking fewer than offered arms a
    /// `.sendWindowOpened` event for when the remote grants more. Returns 0 for a stream that is
    /// not writable, and for empty `data` (nothing is sent).
    @discardableResult
    public func send(stream id: UInt32, _ data: UnsafeRawBufferPointer) -> Int {
        guard failure == nil, !data.isEmpty, let i = streams.index(forKey: id) else { return 0 }
        let s = streams.values[i]
        guard !s.localClosed else { return 0 }
        let total = min(data.count, Int(s.sendWindow))
        if total < data.count { streams.values[i].blocked = true }
        guard total > 0 else { return 0 }
        streams.values[i].sendWindow -= UInt32(total)
        let frames = (total + config.maxFramePayload - 1) / config.maxFramePayload
        out.reserveAdditional(total + frames * YamuxFrame.headerSize)
        var offset = 0
        while offset < total {
            let n = min(config.maxFramePayload, total - offset)
            appendHeader(.data, [], id, UInt32(n))
            let chunk = UnsafeRawBufferPointer(rebasing: data[offset ..< offset + n])
            out.append(contentsOf: chunk.assumingMemoryBound(to: UInt8.self))
            offset += n
        }
        return total
    }

    /// Reports that the owner is done with `n` bytes delivered on `stream`. Once the bytes not yet
    /// re-granted reach `windowUpdateThreshold`, appends a WindowUpdate returning them. Counts
    /// beyond what was delivered are ignored; so are closed or unknown streams.
    public func consumed(stream id: UInt32, _ n: Int) {
        guard failure == nil, n > 0, let i = streams.index(forKey: id) else { return }
        let s = streams.values[i]
        guard !s.remoteClosed else { return }
        // Never grant past maxWindow, whatever the owner reports.
        let room = config.maxWindow - s.recvWindow - s.pendingGrant
        let pending = s.pendingGrant + UInt32(min(n, Int(room)))
        if pending >= config.windowUpdateThreshold {
            streams.values[i].recvWindow = s.recvWindow + pending
            streams.values[i].pendingGrant = 0
            appendHeader(.windowUpdate, [], id, pending)
        } else {
            streams.values[i].pendingGrant = pending
        }
    }

    /// Half-closes `stream` (appends WindowUpdate|FIN). Returns `true` when this completed the
    /// close (the remote had already sent FIN) and the ID is freed.
    @discardableResult
    public func closeWrite(stream id: UInt32) -> Bool {
        guard failure == nil, var s = streams[id], !s.localClosed else { return false }
        appendHeader(.windowUpdate, .fin, id, 0)
        s.localClosed = true
        if s.remoteClosed {
            removeStream(id)
            return true
        }
        streams[id] = s
        return false
    }

    /// Resets `stream` (appends WindowUpdate|RST) and frees its ID. A nonzero `code` travels in
    /// the length field, as go-yamux v5 does (wire.md §4.2); 0 is safe with every peer.
    public func reset(stream id: UInt32, code: UInt32 = 0) {
        guard failure == nil, streams[id] != nil else { return }
        appendHeader(.windowUpdate, .rst, id, code)
        removeStream(id)
    }

    // MARK: session

    /// Appends a ping request and returns its value; the answer arrives as `.pong(value)`.
    @discardableResult
    public func ping() -> UInt32 {
        nextPingValue &+= 1
        appendHeader(.ping, .syn, YamuxFrame.sessionID, nextPingValue)
        return nextPingValue
    }

    /// Appends GoAway (once). Afterwards we open no streams and answer inbound SYNs with RST;
    /// existing streams keep working.
    public func goAway(_ code: YamuxGoAwayCode = .normal) {
        guard !localGoneAway else { return }
        localGoneAway = true
        appendHeader(.goAway, [], YamuxFrame.sessionID, code.rawValue)
    }

    // MARK: output

    /// Whether frames are waiting to be written.
    public var hasOutput: Bool { outStart < out.count }
    /// Number of bytes waiting to be written.
    public var outputCount: Int { out.count - outStart }

    /// Hands the pending output to `body`, which returns how many bytes it took (for example one
    /// Noise frame's worth); those are dropped from the buffer. Call repeatedly until
    /// `hasOutput` is false. `body` must not call into this session (it may feed another one).
    public func drainOutput<E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> Int) throws(E) {
        guard hasOutput else { return }
        // Array.withUnsafeBytes only rethrows untyped errors, so carry E out in a Result.
        let start = outStart
        let result = out.withUnsafeBytes { raw -> Result<Int, E> in
            do throws(E) { return .success(try body(UnsafeRawBufferPointer(rebasing: raw[start...]))) }
            catch { return .failure(error) }
        }
        let taken = try result.get()
        precondition(taken >= 0 && taken <= outputCount, "drainOutput: body took more than offered")
        outStart += taken
        if outStart == out.count {
            out.removeAll(keepingCapacity: out.capacity <= Self.retainedOutputCapacity)
            outStart = 0
        } else if outStart >= 4096 && outStart * 2 >= out.count {
            out.removeFirst(outStart)
            outStart = 0
        }
    }

    /// Returns and clears all pending output (allocates; `drainOutput` is the hot path).
    public func takeOutput() -> [UInt8] {
        var result: [UInt8] = []
        drainOutput { raw in result = Array(raw); return raw.count }
        return result
    }

    // MARK: internals

    @inline(__always)
    func appendHeader(_ type: YamuxFrameType, _ flags: YamuxFlags, _ id: UInt32, _ length: UInt32) {
        YamuxHeader(type: type, flags: flags, streamID: id, length: length).encode(into: &out)
    }

    /// Drops `id` from the table and from the counters it was part of.
    func removeStream(_ id: UInt32) {
        guard let s = streams.removeValue(forKey: id) else { return }
        if s.inbound { inboundCount -= 1 }
        if s.awaitingAck { pendingOutbound -= 1 }
    }
}
