import AirlockCore
import AirlockCrypto
import AirlockWire

/// A libp2p connection: a `SecureSession` (multistream → Noise → multistream → yamux) driven over
/// a transport, which is a TCP connection or, for a relayed connection, a stream of another
/// connection. Owns its streams.
///
/// **Thread:** its loop only. **Output** is batched: stream writes go into the yamux session and
/// one flush per loop turn encrypts them and writes the result (`scheduleFlush`). **Back-pressure:**
/// while the transport cannot take more, stream writes get no window from us (`sendWindow` is 0),
/// so each stream's sender waits on its own credit; reads stop only when a remote that does not
/// take our output lets it pass `connectionReadHold` (`holdReadsIfBackedUp`).
public final class Libp2pConnection {
    public enum Transport {
        case tcp(TCPConnection)
        case stream(Libp2pStream)
    }

    public enum Direction: Sendable { case inbound, outbound }

    public let id: UInt64
    public let loop: EventLoop
    public let direction: Direction
    public let transport: Transport
    /// The remote's transport address (TCP), for caps per IP; nil when relayed.
    public let remoteAddress: SocketAddress?
    let session: SecureSession
    let host: Host
    /// The remote identity, valid once `isEstablished`.
    public private(set) var remotePeer: PeerID = PeerID.placeholder
    public private(set) var isEstablished = false
    public private(set) var isClosed = false
    /// When the connection was created (monotonic).
    public let opened = MonotonicTime.now()
    /// True when this connection runs over a relayed stream.
    public var isRelayed: Bool { if case .stream = transport { return true }; return false }

    var streams: [UInt32: Libp2pStream] = [:]
    private var flushScheduled = false
    /// Reading is paused because the remote does not take our output (`holdReadsIfBackedUp`).
    private var readHeld = false
    /// Relayed: bytes received while reads are held, whose credit goes back on release.
    private var withheldCredit = 0
    private var handshakeTimer: TimerID?
    var onEstablished: ((Result<Libp2pConnection, SessionError>) -> Void)?
    /// Called once when the connection is gone (after every stream ended).
    public var onClose: ((Libp2pConnection) -> Void)?
    /// Listener-specific admission (set by `Host.adopt(listener:admit:)`).
    var admit: ((Libp2pConnection) -> Bool)?
    /// Whether this connection still counts toward the host's handshaking total.
    var countedHandshake = true
    /// Inbound streams being negotiated; capped so a flood cannot pile up.
    private var negotiating = 0

    /// The identity the remote must prove (checked by Noise when dialling, here when listening).
    let expectedPeer: PeerID?

    init(id: UInt64, host: Host, transport: Transport, direction: Direction, expectedPeer: PeerID?, remoteAddress: SocketAddress?) {
        self.id = id
        self.expectedPeer = expectedPeer
        self.host = host
        self.loop = host.loop
        self.transport = transport
        self.direction = direction
        self.remoteAddress = remoteAddress
        var yc = YamuxConfig()
        yc.maxInboundStreams = host.config.maxStreamsPerConnection
        session = SecureSession(role: direction == .outbound ? .dialer(expectedPeer: expectedPeer) : .listener,
                                identity: host.identity, yamuxConfig: yc)
    }

    func start() {
        // The session must exist before the transport delivers anything: a relayed stream hands
        // over the bytes already in its inbox as soon as its reader is installed.
        session.start()
        switch transport {
        case .tcp(let tcp):
            tcp.onRead = { raw in self.received(raw) }
            tcp.onEOF = { self.close(reason: "remote closed the connection") }
            tcp.onWritable = { self.writeWire(); self.releaseReadHold(tcp) }
            tcp.onClose = { err in self.transportClosed(err.map { "\($0)" }) }
        case .stream(let s):
            s.onData = { raw in
                if self.readHeld { self.withheldCredit += raw.count } else { s.consume(raw.count) }
                self.received(raw)
            }
            s.onRemoteClose = { self.close(reason: "relayed stream closed") }
            s.onWritable = { self.writeWire() }  // which also ends a read hold
            s.onEnd = { how in if how != .closed { self.transportClosed("relayed stream \(how)") } else { self.transportClosed(nil) } }
        }
        handshakeTimer = loop.schedule(after: .milliseconds(Int64(host.config.handshakeTimeout * 1000))) { [weak self] in
            guard let self, !self.isEstablished else { return }
            self.handshakeTimer = nil
            self.fail(SessionError(.handshake, "handshake timed out after \(self.host.config.handshakeTimeout) s"),
                      counting: \.handshakeTimeouts)
        }
        writeWire()
    }

    // MARK: input

    private func received(_ raw: UnsafeRawBufferPointer) {
        guard !isClosed else { return }
        do {
            try session.receive(raw) { event in self.handle(event) }
        } catch {
            fail(error)
            return
        }
        scheduleFlush()
        switch transport {
        case .tcp(let t): holdReadsIfBackedUp(t)
        case .stream: holdCreditIfBackedUp()
        }
    }

    /// A remote that provokes answers (pings, stream opens) but never reads them would grow our
    /// output without bound, as reads never stop otherwise. Past `connectionReadHold` queued
    /// bytes, flush and stop reading until the queue drains (`onWritable`). Stream writers stop
    /// at `connectionHighWater`, well below, so honest traffic does not get here.
    private func holdReadsIfBackedUp(_ t: TCPConnection) {
        guard !isClosed, !readHeld else { return }
        let queued = session.wireCount + (session.yamux?.outputCount ?? 0) + t.outputQueued
        guard queued >= host.config.connectionReadHold else { return }
        flush()
        // Still backed up after the flush: onWritable follows once the queue has drained.
        guard !isClosed, !t.isWritable, t.state == .open else { return }
        readHeld = true
        t.pauseReading()
        watchStalledOutput(written: outputTaken)
    }

    /// The same bound for a relayed connection, which has no socket to stop reading: past
    /// `connectionReadHold` bytes still queued after a flush, the credit of what arrives is
    /// withheld, so the remote can send at most the window it already holds. `writeWire` ends
    /// the hold once the queue is down to a quarter of the mark.
    private func holdCreditIfBackedUp() {
        guard !isClosed, !readHeld, queuedForTransport >= host.config.connectionReadHold else { return }
        flush()
        guard !isClosed, queuedForTransport >= host.config.connectionReadHold else { return }
        readHeld = true
        watchStalledOutput(written: outputTaken)
    }

    /// Bytes queued for the transport above the TCP layer: yamux output and encrypted wire.
    private var queuedForTransport: Int { session.wireCount + pendingMuxerOutput }

    /// Bytes the transport has taken so far (written to the socket, or sent on the stream).
    private var outputTaken: UInt64 {
        switch transport {
        case .tcp(let t): return t.bytesWritten
        case .stream(let s): return s.bytesOut
        }
    }

    /// While reads are held, the remote must keep taking output; one that takes nothing for
    /// `stalledOutputTimeout` is closed.
    private func watchStalledOutput(written: UInt64) {
        loop.schedule(after: .milliseconds(Int64(host.config.stalledOutputTimeout * 1000))) { [weak self] in
            guard let self, self.readHeld, !self.isClosed else { return }
            guard self.outputTaken == written else { return self.watchStalledOutput(written: self.outputTaken) }
            self.fail(SessionError(.protocolViolation, "remote took no output for \(self.host.config.stalledOutputTimeout) s"),
                      counting: \.stalledOutputCloses)
        }
    }

    private func releaseReadHold(_ t: TCPConnection) {
        guard readHeld, t.isWritable else { return }
        readHeld = false
        t.resumeReading()
    }

    private func handle(_ event: SecureSession.Event) {
        switch event {
        case .established(let peer):
            remotePeer = peer
            if let t = handshakeTimer { loop.cancel(t); handshakeTimer = nil }
            if let expected = expectedPeer, expected != peer {
                host.admitRefused(self)
                fail(SessionError(.peerMismatch, "expected peer \(expected) but the remote proved \(peer)"))
                return
            }
            if !host.admit(self) {
                close(reason: "peer \(peer) refused on this listener")
                return
            }
            isEstablished = true
            let cb = onEstablished; onEstablished = nil
            cb?(.success(self))
            host.connectionEstablished(self)
        case .stream(let y):
            handle(y)
        }
    }

    private func handle(_ event: YamuxEvent) {
        switch event {
        case .inboundStream(let id):
            guard negotiating < host.config.maxNegotiatingStreams else {
                host.stats.streamsRefusedNegotiatingCap += 1
                session.yamux?.reset(stream: id)
                return
            }
            let s = Libp2pStream(connection: self, id: id, inbound: true)
            streams[id] = s
            negotiating += 1
            var l = MultistreamListener(supported: host.supportedProtocols)
            let hello = l.start()
            s.listener = l
            writeRaw(stream: id, hello)
            s.negotiationTimer = loop.schedule(after: .milliseconds(Int64(host.config.messageTimeout * 1000))) { [weak self, weak s] in
                guard let self, let s, s.listener != nil else { return }
                s.negotiationTimer = nil
                self.host.stats.negotiationTimeouts += 1
                s.reset()
            }
        case .data(let id, let raw):
            guard let s = streams[id] else { session.yamux?.consumed(stream: id, raw.count); return }
            if s.listener != nil || s.dialer != nil {
                s.inbox.write(raw)
                session.yamux?.consumed(stream: id, raw.count)
                negotiate(s)
            } else {
                s.deliver(raw)
            }
        case .sendWindowOpened(let id):
            streams[id]?.windowOpened()
        case .remoteClosedWrite(let id):
            streams[id]?.remoteFinished()
        case .reset(let id, _):
            streams[id]?.finish(.reset)
        case .streamClosed(let id):
            if let s = streams[id] { s.remoteFinished(); s.finish(.closed) }
        case .pong, .goAway:
            break
        }
    }

    /// Runs a stream's multistream negotiation on what its inbox holds.
    private func negotiate(_ s: Libp2pStream) {
        if var l = s.listener {
            let step: MultistreamStep
            do { step = try l.feed(from: &s.inbox) } catch { s.listener = nil; negotiating -= 1; s.reset(); return }
            s.listener = l
            writeRaw(stream: s.id, step.output)
            switch step.outcome {
            case .pending: return
            case .noneSupported: s.listener = nil; negotiating -= 1; s.reset()
            case .selected(let proto, _):
                s.listener = nil
                negotiating -= 1
                if let t = s.negotiationTimer { loop.cancel(t); s.negotiationTimer = nil }
                s.protocolID = proto
                host.dispatch(s)
                s.deliverInbox()
            }
        } else if var d = s.dialer {
            let step: MultistreamStep
            do { step = try d.feed(from: &s.inbox) } catch {
                s.dialer = nil
                let cb = s.negotiated; s.negotiated = nil
                s.reset()
                cb?(.failure(StreamError("protocol negotiation failed: \(error)")))
                return
            }
            s.dialer = d
            writeRaw(stream: s.id, step.output)
            switch step.outcome {
            case .pending: return
            case .noneSupported:
                s.dialer = nil
                let cb = s.negotiated; s.negotiated = nil
                s.reset()
                cb?(.failure(StreamError("remote does not support \(d.proposed)")))
            case .selected(let proto, _):
                s.dialer = nil
                if let t = s.negotiationTimer { loop.cancel(t); s.negotiationTimer = nil }
                s.protocolID = proto
                let cb = s.negotiated; s.negotiated = nil
                s.flushOutbox()
                if s.closeAfterOutbox && s.outbox.isEmpty { s.closeAfterOutbox = false; s.closeWrite() }
                cb?(.success(s))
                s.deliverInbox()
            }
        }
    }

    // MARK: streams

    /// Opens a stream and negotiates `protocolID` (proposing it alone). The completion runs on
    /// the loop with the ready stream, or the failure.
    ///
    /// With `lazy`, the completion runs at once and the stream may be written immediately: the
    /// proposal and the first data leave in one write, saving a round trip (wire.md §1.3). Use it
    /// only for protocols the remote is known to serve; if it answers `na`, the stream is reset
    /// (`onEnd(.localReset)`).
    public func openStream(_ protocolID: String, lazy: Bool = false, timeout: Double? = nil, _ completion: @escaping (Result<Libp2pStream, StreamError>) -> Void) {
        guard isEstablished, !isClosed, let y = session.yamux else {
            loop.runSoon { completion(.failure(StreamError("connection is not open"))) }
            return
        }
        let id: UInt32
        do { id = try y.openStream() } catch {
            loop.runSoon { completion(.failure(StreamError("cannot open stream: \(error)"))) }
            return
        }
        let s = Libp2pStream(connection: self, id: id, inbound: false)
        streams[id] = s
        var d = MultistreamDialer(proposing: protocolID, lazy: lazy)
        writeRaw(stream: id, d.start())
        s.dialer = d
        if lazy { s.protocolID = protocolID } else { s.negotiated = completion }
        let limit = timeout ?? host.config.messageTimeout
        s.negotiationTimer = loop.schedule(after: .milliseconds(Int64(limit * 1000))) { [weak self, weak s] in
            guard let self, let s, s.dialer != nil else { return }
            s.negotiationTimer = nil
            self.host.stats.negotiationTimeouts += 1
            s.dialer = nil
            let cb = s.negotiated; s.negotiated = nil
            s.reset()
            cb?(.failure(StreamError("protocol negotiation timed out")))
        }
        scheduleFlush()
        if lazy { completion(.success(s)) }
    }

    /// Writes negotiation bytes regardless of back-pressure (they are tiny and bounded).
    private func writeRaw(stream id: UInt32, _ bytes: [UInt8]) {
        guard !bytes.isEmpty, let y = session.yamux else { return }
        _ = bytes.withUnsafeBytes { y.send(stream: id, $0) }
        scheduleFlush()
    }

    /// Window we give stream writers: theirs, or none while the transport is backed up.
    func sendWindow(stream id: UInt32) -> Int {
        guard !isClosed, transportWritable, let y = session.yamux else { return 0 }
        return y.sendWindow(stream: id)
    }

    func send(stream id: UInt32, _ bytes: UnsafeRawBufferPointer) -> Int {
        guard !isClosed, transportWritable, let y = session.yamux else {
            blockedWriters.insert(id)
            return 0
        }
        let n = y.send(stream: id, bytes)
        if n < bytes.count { blockedWriters.insert(id) }
        if n > 0 { scheduleFlush() }
        return n
    }

    func closeWrite(stream id: UInt32) {
        guard let y = session.yamux else { return }
        if y.closeWrite(stream: id), let s = streams[id] { s.finish(.closed) }
        scheduleFlush()
    }

    func reset(stream id: UInt32) {
        session.yamux?.reset(stream: id)
        scheduleFlush()
    }

    func forget(stream id: UInt32) {
        if let s = streams.removeValue(forKey: id), s.listener != nil { negotiating -= 1 }
        blockedWriters.remove(id)
    }

    public var streamCount: Int { streams.count }

    // MARK: output

    /// Streams that were refused window because the transport was full; told when it drains.
    private var blockedWriters: Set<UInt32> = []

    private var pendingMuxerOutput: Int { session.yamux?.outputCount ?? 0 }

    private var transportWritable: Bool {
        switch transport {
        // Output not yet flushed counts too: writers in one loop turn must not overshoot.
        case .tcp(let t): return t.isWritable && session.wireCount + pendingMuxerOutput < host.config.connectionHighWater
        case .stream: return session.wireCount + pendingMuxerOutput < host.config.connectionHighWater
        }
    }

    /// Arranges one flush at the end of this loop turn.
    func scheduleFlush() {
        guard !flushScheduled, !isClosed else { return }
        flushScheduled = true
        loop.runSoon { [weak self] in
            guard let self else { return }
            self.flushScheduled = false
            self.flush()
        }
    }

    func flush() {
        guard !isClosed else { return }
        do { try session.flush() } catch { fail(error); return }
        writeWire()
    }

    private func writeWire() {
        switch transport {
        case .tcp(let t):
            session.drainWire { raw in t.write(raw); return raw.count }
        case .stream(let s):
            session.drainWire { raw in s.write(raw) }
            if readHeld, !isClosed, queuedForTransport <= host.config.connectionReadHold / 4 {
                readHeld = false
                let n = withheldCredit
                withheldCredit = 0
                s.consume(n)
            }
        }
        if transportWritable && !blockedWriters.isEmpty { wakeBlockedWriters() }
    }

    private func wakeBlockedWriters() {
        let ids = blockedWriters
        blockedWriters.removeAll()
        for id in ids { streams[id]?.windowOpened() }
    }

    // MARK: closing

    /// Closes gracefully: GoAway, flush, then close the transport.
    public func close(reason: String? = nil) {
        guard !isClosed else { return }
        if let y = session.yamux, session.failure == nil {
            y.goAway(.normal)
            try? session.flush()
        }
        writeWire()
        switch transport {
        case .tcp(let t): t.close(afterFlush: true); cutAfterLinger(t)
        case .stream(let s): s.closeWrite()
        }
        teardown(reason)
    }

    /// Ends the connection on `error`, counted under `counter`, or by default as a failed
    /// handshake or a failed session depending on how far it got.
    private func fail(_ error: SessionError, counting counter: WritableKeyPath<HostCounters, Int>? = nil) {
        guard !isClosed else { return }
        host.stats[keyPath: counter ?? (isEstablished ? \.sessionsFailed : \.handshakesFailed)] += 1
        host.logger.debug("connection_failed", ["conn": id, "peer": isEstablished ? remotePeer.description : "-", "reason": error.message])
        let cb = onEstablished; onEstablished = nil
        writeWire()  // a GoAway, if the session queued one
        switch transport {
        case .tcp(let t): t.close(afterFlush: true); cutAfterLinger(t)
        case .stream(let s): s.reset()
        }
        teardown(error.message)
        cb?(.failure(error))
    }

    /// A flushing close waits for the remote to read; one that never does would keep the socket
    /// and its queue forever, uncounted by the host. Cut it after `closeLinger`.
    private func cutAfterLinger(_ t: TCPConnection) {
        guard t.state != .closed else { return }
        loop.schedule(after: .milliseconds(Int64(host.config.closeLinger * 1000))) { [weak t] in t?.close() }
    }

    private func transportClosed(_ reason: String?) {
        guard !isClosed else { return }
        let cb = onEstablished; onEstablished = nil
        teardown(reason ?? "transport closed")
        cb?(.failure(SessionError(.handshake, "connection closed before the handshake finished")))
    }

    private func teardown(_ reason: String?) {
        isClosed = true
        if let t = handshakeTimer { loop.cancel(t); handshakeTimer = nil }
        for s in Array(streams.values) { s.finish(.connectionClosed) }
        streams.removeAll()
        closeReason = reason
        host.connectionClosed(self)
        let cb = onClose; onClose = nil
        cb?(self)
    }

    public private(set) var closeReason: String?
}

extension PeerID {
    /// Stands in for the remote identity before the handshake finished (never compared).
    static let placeholder = try! PeerID(bytes: [0x00, 0x01, 0x00])
}
