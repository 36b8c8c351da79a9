import Testing
import AirlockCore
import AirlockCrypto
@testable import AirlockIO
import AirlockPolicy
@testable import AirlockWire
@testable import AirlockRelay

/// Support for the hostile-peer tests (RelayHostile*Tests.swift): a dialer driven by hand, byte
/// by byte, against a real relay on 127.0.0.1, and the checks that the relay stayed healthy.
///
/// `RawPeer` runs a `SecureSession` over a `TCPConnection` on the lab's loop. Honest traffic goes
/// through the session's own yamux; `inject` appends crafted yamux bytes to it, so they are
/// encrypted with the session's Noise transport like any other frame; `writeRaw` puts bytes on
/// the TCP connection as they are (before or instead of a handshake).
final class RawPeer {
    let tcp: TCPConnection
    let session: SecureSession
    private(set) var established = false
    /// The relay closed the TCP connection (EOF or error), and when.
    private(set) var closedAt: MonotonicTime?
    var isClosedByRelay: Bool { closedAt != nil }
    /// What the relay told us, in order.
    private(set) var goAways: [YamuxGoAwayCode] = []
    private(set) var resets: [UInt32] = []
    private(set) var pongs: [UInt32] = []
    private(set) var sessionError: SessionError?
    /// Plaintext bytes read from the relay (after decryption), and raw bytes read before Noise.
    private(set) var bytesIn = 0
    var onEstablished: (() -> Void)?
    var onClosed: (() -> Void)?
    var onPong: ((UInt32) -> Void)?
    /// Bytes read while `handshake()` was not called (a handshake driven by hand).
    var onRawRead: ((UnsafeRawBufferPointer) -> Void)?
    private var handshaking = false
    /// What the relay sent before `handshake()` with no `onRawRead` to take it (its multistream
    /// header, sent at once): fed to the session when the handshake starts.
    private var early: [UInt8] = []

    /// Connects at once; call `handshake()` to run the honest upgrade, or write what you like.
    init(lab: Lab, identity: Ed25519PrivateKey = Ed25519PrivateKey(),
         yamux: YamuxConfig = YamuxConfig(maxPendingOutbound: 1 << 20)) {
        tcp = TCPConnection.connect(to: lab.relayAddr, on: lab.loop)
        session = SecureSession(role: .dialer(expectedPeer: lab.relayHost.peerID), identity: identity, yamuxConfig: yamux)
        // The callbacks hold the peer until the TCP connection closes, which drops them.
        tcp.onRead = { raw in self.received(raw) }
        tcp.onEOF = { self.relayClosed() }
        tcp.onClose = { _ in self.relayClosed() }
    }

    var yamux: YamuxSession { session.yamux! }

    func handshake() {
        handshaking = true
        session.start()
        pushWire()
        if !early.isEmpty {
            var bytes = early
            early = []
            // Mutable storage: the session may decrypt what it is fed in place.
            bytes.withUnsafeMutableBytes { feed(UnsafeRawBufferPointer($0)) }
        }
    }

    private func received(_ raw: UnsafeRawBufferPointer) {
        bytesIn += raw.count
        guard handshaking else {
            if let onRawRead { onRawRead(raw) } else { early += raw }
            return
        }
        feed(raw)
    }

    private func feed(_ raw: UnsafeRawBufferPointer) {
        guard sessionError == nil else { return }
        do {
            try session.receive(raw) { event in
                switch event {
                case .established:
                    self.established = true
                    self.onEstablished?()
                case .stream(let e):
                    switch e {
                    case .data(let id, let chunk): self.yamux.consumed(stream: id, chunk.count)
                    case .reset(let id, _): self.resets.append(id)
                    case .goAway(let code): self.goAways.append(code)
                    case .pong(let v): self.pongs.append(v); self.onPong?(v)
                    case .inboundStream(let id): self.yamux.reset(stream: id)
                    case .sendWindowOpened, .remoteClosedWrite, .streamClosed: break
                    }
                }
            }
        } catch {
            sessionError = error
        }
        flush()
    }

    private func relayClosed() {
        guard closedAt == nil else { return }
        closedAt = MonotonicTime.now()
        let cb = onClosed; onClosed = nil
        cb?()
    }

    /// Encrypts what the session's yamux queued and writes it.
    func flush() {
        try? session.flush()
        pushWire()
    }

    private func pushWire() {
        session.drainWire { raw in tcp.write(raw); return raw.count }
    }

    /// Sends crafted yamux bytes, encrypted like any frame of this session.
    func inject(_ plain: [UInt8]) {
        yamux.out.append(contentsOf: plain)
        flush()
    }

    /// Writes bytes to the TCP connection as they are.
    func writeRaw(_ bytes: [UInt8]) { tcp.write(bytes) }

    /// Sends crafted yamux bytes in one Noise transport frame whose tag is corrupted (its last
    /// byte flipped), so the relay's decryption of that frame fails.
    func injectWithCorruptedTag(_ plain: [UInt8]) {
        flush()
        yamux.out.append(contentsOf: plain)
        try? session.flush()
        var frame = session.takeWire()
        frame[frame.count - 1] ^= 0x01
        tcp.write(frame)
    }

    /// Pings and calls `then` once the answer came back (everything sent before was processed).
    func roundTrip(_ then: @escaping () -> Void) {
        let value = yamux.ping()
        flush()
        onPong = { [unowned self] v in
            guard v == value else { return }
            onPong = nil
            then()
        }
    }

    func close() { tcp.close() }
}

/// `RawPeer`'s counterpart over a circuit: the dialer's side of a relayed connection, run by hand
/// over the hop stream that CONNECT returned, so the test decides when to stop granting the
/// relay credit (`reading = false`) while it goes on sending.
final class RelayedRawPeer {
    let stream: Libp2pStream
    let session: SecureSession
    /// Return credit for what arrives; false stops the far end's output at one window.
    var reading = true
    var onEstablished: (() -> Void)?
    /// The hop stream took more after a short write.
    var onWritable: (() -> Void)?
    private var onPong: ((UInt32) -> Void)?

    init(_ s: Libp2pStream, expect: PeerID, identity: Ed25519PrivateKey) {
        stream = s
        session = SecureSession(role: .dialer(expectedPeer: expect), identity: identity,
                                yamuxConfig: YamuxConfig(maxPendingOutbound: 1 << 20))
        s.onData = { [unowned self] raw in
            if reading { stream.consume(raw.count) }
            do {
                try session.receive(raw) { event in
                    switch event {
                    case .established: self.onEstablished?()
                    case .stream(.pong(let v)): self.onPong?(v)
                    case .stream(.data(let id, let chunk)): self.yamux.consumed(stream: id, chunk.count)
                    case .stream: break
                    }
                }
            } catch {}
            flush()
        }
        s.onWritable = { [unowned self] in pushWire(); onWritable?() }
        session.start()
        pushWire()
    }

    var yamux: YamuxSession { session.yamux! }
    /// Encrypted bytes the hop stream has not taken yet.
    var unsent: Int { session.wireCount }

    func flush() {
        try? session.flush()
        pushWire()
    }

    private func pushWire() {
        session.drainWire { raw in stream.write(raw) }
    }

    /// Sends crafted yamux bytes, encrypted like any frame of this session.
    func inject(_ plain: [UInt8]) {
        yamux.out.append(contentsOf: plain)
        flush()
    }

    /// Pings and calls `then` once the answer came back.
    func roundTrip(_ then: @escaping () -> Void) {
        let value = yamux.ping()
        flush()
        onPong = { [unowned self] v in
            guard v == value else { return }
            onPong = nil
            then()
        }
    }
}

/// Yamux frame bytes for crafted input.
enum Frame {
    static func header(_ type: YamuxFrameType, _ flags: YamuxFlags, _ id: UInt32, _ length: UInt32) -> [UInt8] {
        YamuxHeader(type: type, flags: flags, streamID: id, length: length).bytes
    }
    static func ping(_ value: UInt32) -> [UInt8] { header(.ping, .syn, 0, value) }
    /// Opens `id` and sends `body` on it in one Data frame.
    static func open(_ id: UInt32, _ body: [UInt8] = [], flags: YamuxFlags = []) -> [UInt8] {
        header(.data, flags.union(.syn), id, UInt32(body.count)) + body
    }
    static func reset(_ id: UInt32) -> [UInt8] { header(.windowUpdate, .rst, id, 0) }
    static func window(_ id: UInt32, _ delta: UInt32) -> [UInt8] { header(.windowUpdate, [], id, delta) }
    /// Multistream header plus `protocolID`, as a stream's first bytes (lazy negotiation).
    static func propose(_ protocolID: String) -> [UInt8] {
        var d = MultistreamDialer(proposing: protocolID)
        return d.start()
    }
}

extension Lab {
    /// The relay's side of connection `id`: bytes it holds for the remote in user space
    /// (yamux output, encrypted wire, TCP output queue).
    func relayQueued(_ c: Libp2pConnection) -> Int {
        var n = c.session.wireCount + (c.session.yamux?.outputCount ?? 0)
        if case .tcp(let t) = c.transport { n += t.outputQueued }
        return n
    }

    /// The relay's connection from `peer` (established), if any.
    func relayConnection(from peer: PeerID) -> Libp2pConnection? {
        relayHost.connections.values.first { $0.isEstablished && $0.remotePeer == peer }
    }

    /// Proves the relay still serves honest peers: a fresh svc host reserves, a fresh client
    /// host CONNECTs to it, and bytes cross the circuit both ways. Both hosts' connections are
    /// closed afterwards. `then` gets "served" or the test fails.
    func honestRoundTrip(_ then: @escaping (String) -> Void) {
        connect("svc") { [self] h, target in
            serveStop(on: h) { m, s in
                guard m?.type == .connect else { return self.fail("STOP did not decode") }
                s.send(StopMessage.status(.ok).framed() + Array("pong".utf8))
            }
            ask(target, .reserve) { [self] r, _ in
                guard r.status == .ok else { return fail("honest reserve: \(r.status.map { "\($0)" } ?? "-")") }
                connect("client") { [self] _, c in
                    hop(c, HopMessage.connect(to: peer("svc")).framed() + Array("ping".utf8)) { [self] r in
                        guard case .success(let (a, s)) = r, a.status == .ok else { return fail("honest connect: \(r)") }
                        var got: [UInt8] = []
                        let finish = { c.close(); target.close(); then("served") }
                        if !s.inbox.isEmpty { got += s.take() }
                        if got.count >= 4 { return finish() }
                        s.onReadable = { [unowned s] in
                            got += s.take()
                            if got.count >= 4 { s.onReadable = nil; finish() }
                        }
                    }
                }
            }
        }
    }

    /// Heap growth since `base`, in MiB (signed).
    static func heapMiB(since base: UInt64) -> Double {
        (Double(HeapStats.bytesInUse()) - Double(base)) / Double(1 << 20)
    }
}

extension RelayTests {
    /// Hostile peers against a real relay: each test attacks at the byte level, then checks a
    /// precise outcome and that an honest client is still served.
    @Suite struct RelayHostileTests {}
}
