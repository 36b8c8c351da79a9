import Testing
import AirlockCore
import AirlockCrypto
import AirlockWire
import AirlockIO
@testable import AirlockRelay

/// A scripted relay for the client's edge cases: answers RESERVE with whatever `reserveAnswer`
/// says, and for CONNECT glues circuit bytes onto a relay message on purpose, so the leftover
/// handling is exercised deterministically (wire.md §5.2, §9 P1).
final class ScriptedRelay {
    enum Glue { case none, afterHopStatus, afterStopConnect }

    let host: Host
    var glue = Glue.none
    /// The source the STOP CONNECT claims (default: the real source).
    var claimedSource: PeerID?
    var reserveAnswer: (PeerID) -> HopMessage
    var stopAnswers: [RelayStatus] = []
    var reserves = 0
    /// Circuit bytes sent glued to a relay message.
    var glued = 0

    init(loop: EventLoop) {
        let key = Ed25519PrivateKey()
        host = Host(loop: loop, identity: key)
        reserveAnswer = { peer in
            let expire = UInt64(RelayClient.unixTime()) + 3600
            let voucher = Voucher(relay: PeerID(publicKey: key.publicKey), peer: peer, expiration: expire).sealed(by: key)
            return .status(.ok, reservation: Reservation(expire: expire, voucher: voucher))
        }
        host.handle(ProtocolID.hop) { [unowned self] s in
            s.onReadable = { [unowned self, unowned s] in
                guard let body = try? s.readMessage(cap: 4096), let m = try? HopMessage(decoding: body[...]) else { return }
                s.onReadable = nil
                switch m.type {
                case .reserve:
                    reserves += 1
                    s.send(reserveAnswer(s.remotePeer).framed()); s.closeWrite()
                case .connect: connect(s, to: m.peer!.id)
                case .status: s.reset()
                }
            }
        }
    }

    private func connect(_ hop: Libp2pStream, to target: PeerID) {
        guard let c = host.connections(to: target).first else {
            hop.send(HopMessage.status(.noReservation).framed()); hop.closeWrite(); return
        }
        let source = hop.remotePeer
        let stopConnect = StopMessage.connect(from: claimedSource ?? source).framed()
        if glue == .afterStopConnect {
            // Tell the source OK first, collect its first handshake bytes, then glue them on CONNECT.
            hop.send(HopMessage.status(.ok).framed())
            hop.onReadable = { [unowned self, unowned hop] in
                hop.onReadable = nil
                let early = hop.take()
                glued += early.count
                openStop(on: c, hop: hop, first: stopConnect + early, okAlreadySent: true)
            }
        } else {
            openStop(on: c, hop: hop, first: stopConnect, okAlreadySent: false)
        }
    }

    private func openStop(on c: Libp2pConnection, hop: Libp2pStream, first: [UInt8], okAlreadySent: Bool) {
        c.openStream(ProtocolID.stop) { [unowned self] r in
            guard case .success(let stop) = r else { hop.reset(); return }
            stop.send(first)
            stop.onReadable = { [unowned self, unowned stop] in
                guard let body = try? stop.readMessage(cap: 4096), let m = try? StopMessage(decoding: body[...]) else { return }
                let status = m.status ?? .unused
                stopAnswers.append(status)
                guard status == .ok else {
                    hop.send(HopMessage.status(.connectionFailed).framed()); hop.closeWrite(); stop.reset(); return
                }
                if okAlreadySent { splice(hop, stop); return }
                if glue == .afterHopStatus {
                    // Wait for the target's first handshake bytes and send them with the OK.
                    stop.onReadable = { [unowned self, unowned stop] in
                        stop.onReadable = nil
                        let early = stop.take()
                        glued += early.count
                        hop.send(HopMessage.status(.ok).framed() + early)
                        ScriptedRelay.splice(hop, stop)
                    }
                    if !stop.inbox.isEmpty { stop.onReadable?() }
                } else {
                    hop.send(HopMessage.status(.ok).framed())
                    splice(hop, stop)
                }
            }
        }
    }

    private func splice(_ a: Libp2pStream, _ b: Libp2pStream) { ScriptedRelay.splice(a, b) }

    /// Copies both ways (queues without bound: test volumes only), forwarding FIN and reset.
    static func splice(_ a: Libp2pStream, _ b: Libp2pStream) {
        for (x, y) in [(a, b), (b, a)] {
            x.onReadable = nil
            x.onData = { [unowned x, unowned y] raw in y.send(Array(raw)); x.consume(raw.count) }
            x.onRemoteClose = { [unowned y] in y.closeWrite() }
            x.onEnd = { [weak y] how in if how != .closed { y?.reset() } }
        }
    }
}

@Suite struct RelayClientLocalTests {
    static let proto = "/airlock/test/pump/1.0.0"

    /// A reserves on a scripted relay, B connects to A through it and both pump `total` bytes.
    func circuit(glue: ScriptedRelay.Glue, total: Int = 256 * 1024) async throws -> String {
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        return try await tl.wait(timeout: 30) { loop, done in
            let relay = ScriptedRelay(loop: loop)
            relay.glue = glue
            let addr = try! relay.host.listen(on: .loopbackV4(port: 0))
            let a = Host(loop: loop, identity: Ed25519PrivateKey())
            let b = Host(loop: loop, identity: Ed25519PrivateKey())
            let stop = StopHandler(host: a, logger: .silent)
            stop.install()
            let client = RelayClient(host: a, relay: addr, relayPeer: relay.host.peerID, logger: .silent)
            for o in [relay, stop, client] as [AnyObject] { RelayClientTestLoop.keep(o, on: loop) }
            var pumps: [CircuitPump] = []
            func finished() {
                guard pumps.count == 2, pumps.allSatisfy(\.isDone) else { return }
                let intact = pumps.allSatisfy { $0.received == total && !$0.corrupt }
                done(.success(!intact ? "corrupt" : (glue == .none) == (relay.glued == 0) ? "ok" : "glued \(relay.glued) bytes"))
            }
            a.handle(Self.proto) { s in let p = CircuitPump(s, total: total); pumps.append(p); p.onDone = finished }
            client.onReservation = { r in
                client.onReservation = nil
                guard case .success = r else { done(.success("reserve failed: \(r)")); return }
                let bc = RelayClient(host: b, relay: addr, relayPeer: relay.host.peerID, logger: .silent)
                RelayClientTestLoop.keep(bc, on: loop)
                bc.connect(to: a.peerID) { r in
                    guard case .success(let c) = r else { done(.success("connect failed: \(r)")); return }
                    c.openStream(Self.proto) { r in
                        guard case .success(let s) = r else { done(.success("open failed")); return }
                        let p = CircuitPump(s, total: total); pumps.append(p); p.onDone = finished
                    }
                }
            }
            client.start()
        }
    }

    @Test func circuitThroughScriptedRelay() async throws {
        let r = try await circuit(glue: .none)
        #expect(r == "ok")
    }

    @Test func leftoverAfterHopStatusReachesTheHandshake() async throws {
        let r = try await circuit(glue: .afterHopStatus)
        #expect(r == "ok")
    }

    @Test func leftoverAfterStopConnectReachesTheHandshake() async throws {
        let r = try await circuit(glue: .afterStopConnect)
        #expect(r == "ok")
    }

    /// The first RESERVE outcome against a relay answering with `answer(relayKey, us)`, and the
    /// client's state right after it.
    func firstOutcome(_ answer: @escaping @Sendable (Ed25519PrivateKey, PeerID) -> HopMessage) async throws -> String {
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        return try await tl.wait(timeout: 10) { loop, done in
            let relay = ScriptedRelay(loop: loop)
            let relayKey = relay.host.identity
            relay.reserveAnswer = { answer(relayKey, $0) }
            let addr = try! relay.host.listen(on: .loopbackV4(port: 0))
            let a = Host(loop: loop, identity: Ed25519PrivateKey())
            let client = RelayClient(host: a, relay: addr, relayPeer: relay.host.peerID, logger: .silent)
            for o in [relay, client] as [AnyObject] { RelayClientTestLoop.keep(o, on: loop) }
            client.onReservation = { r in
                client.onReservation = nil
                let waiting = if case .waiting = client.state { true } else { false }
                switch r {
                case .success: done(.success("granted"))
                case .failure(let e):
                    done(.success("\(e.status?.description ?? "nil") reservation=\(client.reservation == nil ? "nil" : "set") waiting=\(waiting)"))
                }
                client.stop()
            }
            client.start()
        }
    }

    static func voucher(_ key: Ed25519PrivateKey, relay: PeerID? = nil, peer: PeerID, expire: UInt64) -> [UInt8] {
        Voucher(relay: relay ?? PeerID(publicKey: key.publicKey), peer: peer, expiration: expire).sealed(by: key)
    }

    static var later: UInt64 { UInt64(RelayClient.unixTime()) + 600 }

    @Test func validGrantWithoutVoucherIsAccepted() async throws {
        let r = try await firstOutcome { _, _ in .status(.ok, reservation: Reservation(expire: Self.later)) }
        #expect(r == "granted")
    }

    @Test func refusalCarriesTheRelayStatus() async throws {
        let r = try await firstOutcome { _, _ in .status(.reservationRefused) }
        #expect(r == "RESERVATION_REFUSED reservation=nil waiting=true")
    }

    @Test func badGrantsAreRejected() async throws {
        let other = Ed25519PrivateKey()
        let stranger = PeerID(publicKey: other.publicKey)
        let cases: [(String, @Sendable (Ed25519PrivateKey, PeerID) -> HopMessage)] = [
            ("expired", { k, p in .status(.ok, reservation: Reservation(expire: 1000, voucher: Self.voucher(k, peer: p, expire: 1000))) }),
            ("no reservation", { _, _ in .status(.ok) }),
            ("no status", { _, _ in HopMessage(type: .status, reservation: Reservation(expire: Self.later)) }),
            ("wrong type", { _, _ in HopMessage(type: .connect, reservation: Reservation(expire: Self.later), status: .ok) }),
            ("voucher for another peer", { k, _ in .status(.ok, reservation: Reservation(expire: Self.later, voucher: Self.voucher(k, peer: stranger, expire: Self.later))) }),
            ("voucher signed by another key", { _, p in .status(.ok, reservation: Reservation(expire: Self.later, voucher: Self.voucher(other, peer: p, expire: Self.later))) }),
            ("voucher naming another relay", { k, p in .status(.ok, reservation: Reservation(expire: Self.later, voucher: Self.voucher(k, relay: stranger, peer: p, expire: Self.later))) }),
            ("junk voucher", { _, _ in .status(.ok, reservation: Reservation(expire: Self.later, voucher: [1, 2, 3])) }),
        ]
        for (name, answer) in cases {
            let r = try await firstOutcome(answer)
            #expect(r.hasSuffix("reservation=nil waiting=true"), "\(name): \(r)")
        }
    }

    @Test func refusedReservesBackOff() async throws {
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        // Steps 0.1, 0.2, 0.4, 0.8 s with jitter in [½, 1]: after 1.2 s at most 5 attempts.
        let counts: String = try await tl.wait(timeout: 10) { loop, done in
            let relay = ScriptedRelay(loop: loop)
            relay.reserveAnswer = { _ in .status(.resourceLimitExceeded) }
            let addr = try! relay.host.listen(on: .loopbackV4(port: 0))
            let client = RelayClient(host: Host(loop: loop, identity: Ed25519PrivateKey()), relay: addr,
                                     relayPeer: relay.host.peerID, logger: .silent)
            for o in [relay, client] as [AnyObject] { RelayClientTestLoop.keep(o, on: loop) }
            var waits: [Double] = []
            client.onStateChange = { if case .waiting(let d, _) = $0 { waits.append(d) } }
            client.start()
            loop.schedule(after: .milliseconds(1200)) {
                client.stop()
                let grows = zip(waits, waits.dropFirst(2)).allSatisfy { $1 > $0 }
                done(.success("\(relay.reserves >= 3 && relay.reserves <= 5) \(grows) \(client.state)"))
            }
        }
        #expect(counts == "true true stopped")
    }

    /// A: StopHandler with `accept`; the scripted relay claims `claimed` as the source (nil: the truth).
    func stopOutcome(accept: @escaping @Sendable (PeerID) -> Bool, claimOther: Bool) async throws -> String {
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        return try await tl.wait(timeout: 20) { loop, done in
            let relay = ScriptedRelay(loop: loop)
            if claimOther { relay.claimedSource = PeerID(publicKey: Ed25519PrivateKey().publicKey) }
            let addr = try! relay.host.listen(on: .loopbackV4(port: 0))
            let a = Host(loop: loop, identity: Ed25519PrivateKey())
            let b = Host(loop: loop, identity: Ed25519PrivateKey())
            let stop = StopHandler(host: a, logger: .silent, accept: accept)
            stop.install()
            var relayedOnA = 0
            a.onConnection = { if $0.isRelayed { relayedOnA += 1 } }
            let client = RelayClient(host: a, relay: addr, relayPeer: relay.host.peerID, logger: .silent)
            for o in [relay, stop, client] as [AnyObject] { RelayClientTestLoop.keep(o, on: loop) }
            client.onReservation = { _ in
                client.onReservation = nil
                RelayClient.connect(host: b, through: try! Multiaddr("/ip4/127.0.0.1/tcp/\(addr.port)/p2p/\(relay.host.peerID)/p2p-circuit/p2p/\(a.peerID)")) { r in
                    switch r {
                    case .failure(let e):
                        done(.success("\(e.status?.description ?? "nil") stop=\(relay.stopAnswers) relayedOnA=\(relayedOnA)"))
                    case .success(let c):
                        // The dialer finishes first; A decides when msg 3 arrives. Give it a moment.
                        loop.schedule(after: .milliseconds(300)) {
                            done(.success("connected closed=\(c.isClosed) stop=\(relay.stopAnswers) relayedOnA=\(relayedOnA)"))
                        }
                    }
                }
            }
            client.start()
        }
    }

    @Test func stopHandlerAsksAccept() async throws {
        let r = try await stopOutcome(accept: { _ in false }, claimOther: false)
        #expect(r == "CONNECTION_FAILED stop=[PERMISSION_DENIED] relayedOnA=0")
        let ok = try await stopOutcome(accept: { _ in true }, claimOther: false)
        #expect(ok == "connected closed=false stop=[OK] relayedOnA=1")
    }

    @Test func stopHandlerRefusesAnIdentityOtherThanClaimed() async throws {
        let r = try await stopOutcome(accept: { _ in true }, claimOther: true)
        #expect(r == "connected closed=true stop=[OK] relayedOnA=0")
    }

    @Test func circuitAddressesAreChecked() async throws {
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        let relay = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        let target = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        let bad = [
            "/ip4/127.0.0.1/tcp/1/p2p/\(relay)",                       // not a circuit
            "/ip4/127.0.0.1/tcp/1/p2p/\(relay)/p2p-circuit",           // no target
            "/ip4/127.0.0.1/tcp/1/p2p-circuit/p2p/\(target)",          // relay has no /p2p
            "/dns4/relay.example/tcp/1/p2p/\(relay)/p2p-circuit/p2p/\(target)",  // not ip + tcp
        ]
        for text in bad {
            let addr = try Multiaddr(text)
            let r: String = try await tl.wait(timeout: 5) { loop, done in
                RelayClient.connect(host: Host(loop: loop, identity: Ed25519PrivateKey()), through: addr) { r in
                    if case .failure(let e) = r, e.status == nil { done(.success("refused")) } else { done(.success("\(r)")) }
                }
            }
            #expect(r == "refused", "\(text)")
        }
    }
}
