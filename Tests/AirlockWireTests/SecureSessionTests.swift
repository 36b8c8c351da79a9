import Testing
import AirlockCore
import AirlockCrypto
@testable import AirlockWire

/// Two `SecureSession`s wired back to back in memory: the whole upgrade, then yamux traffic.
@Suite struct SecureSessionTests {
    /// Byte `i` of the pattern stream number `s` (distinct per stream and direction).
    static func pattern(_ s: UInt32, _ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: i &* 31 &+ Int(s) &* 7 &+ (i >> 13)) }

    /// One side: its session, what it received per stream, and what it still has to send.
    final class Side {
        let session: SecureSession
        var established: PeerID?
        var inbound: [UInt32] = []
        var received: [UInt32: Int] = [:]
        var mismatches = 0
        var finished: Set<UInt32> = []
        var closed: Set<UInt32> = []
        var toSend: [UInt32: Int] = [:]  // stream → bytes already sent
        var total = 0
        init(_ s: SecureSession) { session = s }

        func handle(_ e: SecureSession.Event) {
            switch e {
            case .established(let p): established = p
            case .stream(let y):
                switch y {
                case .inboundStream(let id): inbound.append(id)
                case .data(let id, let raw):
                    var n = received[id, default: 0]
                    for b in raw { if b != SecureSessionTests.pattern(id, n) { mismatches += 1 }; n += 1 }
                    received[id] = n
                    session.yamux!.consumed(stream: id, raw.count)
                case .remoteClosedWrite(let id): finished.insert(id)
                case .streamClosed(let id): finished.insert(id); closed.insert(id)
                default: break
                }
            }
        }

        /// Sends as much pattern data as windows allow; half-closes finished streams.
        func pump() {
            guard let y = session.yamux else { return }
            for (id, sent) in toSend where sent < total {
                let n = min(total - sent, 48 * 1024)
                var chunk = [UInt8](repeating: 0, count: n)
                for i in 0..<n { chunk[i] = SecureSessionTests.pattern(id, sent + i) }
                let took = chunk.withUnsafeBytes { y.send(stream: id, $0) }
                toSend[id] = sent + took
                if sent + took == total, y.closeWrite(stream: id) { closed.insert(id) }
            }
        }
    }

    /// Moves wire bytes both ways, in chunks of `split` bytes (0: whole), until nothing moves.
    static func shuttle(_ a: Side, _ b: Side, split: Int = 0, rounds: Int = 1_000_000) throws {
        for _ in 0..<rounds {
            a.pump(); b.pump()
            try a.session.flush(); try b.session.flush()
            let ab = a.session.takeWire(), ba = b.session.takeWire()
            if ab.isEmpty && ba.isEmpty { return }
            try deliver(ab, to: b, split: split)
            try deliver(ba, to: a, split: split)
        }
        Issue.record("no quiescence")
    }

    static func deliver(_ bytes: [UInt8], to side: Side, split: Int) throws {
        var i = 0
        while i < bytes.count {
            let n = split > 0 ? min(split, bytes.count - i) : bytes.count
            try Array(bytes[i ..< i + n]).withUnsafeBytes { raw in try side.session.receive(raw) { side.handle($0) } }
            i += n
        }
    }

    static func pair(expect: PeerID? = nil) -> (Side, Side, Ed25519PrivateKey, Ed25519PrivateKey) {
        let ka = Ed25519PrivateKey(), kb = Ed25519PrivateKey()
        let a = Side(SecureSession(role: .dialer(expectedPeer: expect ?? PeerID(publicKey: kb.publicKey)), identity: ka))
        let b = Side(SecureSession(role: .listener, identity: kb))
        a.session.start(); b.session.start()
        return (a, b, ka, kb)
    }

    @Test func fullUpgradeMoves16MiBEachWayAndClosesCleanly() throws {
        let (a, b, ka, kb) = Self.pair()
        try Self.shuttle(a, b)
        #expect(a.established == PeerID(publicKey: kb.publicKey))
        #expect(b.established == PeerID(publicKey: ka.publicKey))
        // Streams opened in both directions: two from each side.
        let total = 8 << 20
        a.total = total; b.total = total
        for side in [a, b] {
            for _ in 0..<2 { side.toSend[try side.session.yamux!.openStream()] = 0 }
        }
        try Self.shuttle(a, b, split: 7919)
        // Each side answers on the streams the other opened, too.
        for (side, other) in [(a, b), (b, a)] {
            for id in side.inbound { side.toSend[id] = 0 }
            _ = other
        }
        try Self.shuttle(a, b, split: 65536 + 3)
        #expect(a.mismatches == 0 && b.mismatches == 0)
        // 4 streams, each carrying 8 MiB each way: 16 MiB each way per side pair of streams opened.
        #expect(a.received.count == 4 && b.received.count == 4)
        #expect(a.received.values.allSatisfy { $0 == total } && b.received.values.allSatisfy { $0 == total })
        #expect(a.received.values.reduce(0, +) == 32 << 20)
        #expect(a.session.yamux!.streamCount == 0 && b.session.yamux!.streamCount == 0)
        #expect(a.session.failure == nil && b.session.failure == nil)
    }

    @Test func handshakeSurvivesDripFeed() throws {
        let (a, b, _, _) = Self.pair()
        try Self.shuttle(a, b, split: 1)
        #expect(a.session.isEstablished && b.session.isEstablished)
        let id = try a.session.yamux!.openStream()
        a.total = 1000; a.toSend[id] = 0
        try Self.shuttle(a, b, split: 1)
        #expect(b.received[id] == 1000 && b.mismatches == 0)
    }

    @Test func wrongExpectedPeerFails() throws {
        let stranger = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        let (a, b, _, _) = Self.pair(expect: stranger)
        #expect(throws: SessionError.self) { try Self.shuttle(a, b) }
        #expect(a.session.failure?.code == .peerMismatch)
        #expect(a.session.yamux == nil)
    }

    @Test func junkBeforeHandshakeFails() throws {
        let b = Side(SecureSession(role: .listener, identity: Ed25519PrivateKey()))
        b.session.start()
        let junk = Array(("GET / HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-Pad: y\r\n", count: 12) + "\r\n").utf8)
        #expect(throws: SessionError.self) {
            try junk.withUnsafeBytes { raw in try b.session.receive(raw) { b.handle($0) } }
        }
        #expect(b.session.failure?.code == .negotiation)
    }

    @Test func tamperedCiphertextEndsSession() throws {
        let (a, b, _, _) = Self.pair()
        try Self.shuttle(a, b)
        let id = try a.session.yamux!.openStream()
        a.total = 100; a.toSend[id] = 0
        a.pump(); try a.session.flush()
        var wire = a.session.takeWire()
        wire[wire.count - 1] ^= 1
        #expect(throws: SessionError.self) { try Self.deliver(wire, to: b, split: 0) }
        #expect(b.session.failure?.code == .decrypt)
        // Dead for good: valid-looking input is refused too.
        #expect(throws: SessionError.self) { try Self.deliver([0, 0], to: b, split: 0) }
    }
}
