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
}
