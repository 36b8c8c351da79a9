#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import AirlockCore
import AirlockCrypto
import AirlockWire
import AirlockIO
@testable import AirlockRelay

/// The relay client against the real py-libp2p 0.8.1 relay (Tests/Interop/peer.py), on 127.0.0.1.
@Suite(.serialized) struct RelayClientInteropTests {
    static let pumpProtocol = "/airlock/test/pump/1.0.0"

    static func relayInfo(_ ready: PyPeer.Event) throws -> (Multiaddr, PeerID, SocketAddress) {
        let addr = try Multiaddr(try #require(ready.strings("addrs").first))
        let peer = try PeerID(try #require(ready.string("peer_id")))
        let (ip, port) = try #require(addr.tcpEndpoint)
        #expect(ip.description == "127.0.0.1")
        return (addr, peer, try #require(SocketAddress(ip: ip.description, port: port)))
    }

    @Test(.enabled(if: PyPeer.shouldRun, PyPeer.skipReason))
    func reserveThenOneMiBEachWayThroughPyRelay() async throws {
        let relay = try PyPeer(["relay", "--port", "0"])
        defer { relay.stop() }
        let (relayAddr, relayPeer, relaySocket) = try Self.relayInfo(try await relay.next("ready", timeout: 60))
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        let total = 1 << 20

        let result: String = try await tl.wait(timeout: 120) { loop, done in
            let a = Host(loop: loop, identity: Ed25519PrivateKey())
            let b = Host(loop: loop, identity: Ed25519PrivateKey())
            let stop = StopHandler(host: a, logger: .silent)
            stop.install()
            let client = RelayClient(host: a, relay: relaySocket, relayPeer: relayPeer, logger: .silent)
            RelayClientTestLoop.keep(stop, on: loop)
            RelayClientTestLoop.keep(client, on: loop)

            var relayedOnA: PeerID?
            a.onConnection = { c in if c.isRelayed { relayedOnA = c.remotePeer } }
            var pumps: [CircuitPump] = []
            func finished() {
                guard pumps.count == 2, pumps.allSatisfy(\.isDone) else { return }
                let ok = pumps.allSatisfy { $0.received == total && !$0.corrupt }
                done(.success(ok && relayedOnA == b.peerID ? "ok" : "bad \(pumps.map { ($0.received, $0.corrupt) }) \(String(describing: relayedOnA))"))
            }
            a.handle(Self.pumpProtocol) { s in
                let p = CircuitPump(s, total: total); pumps.append(p); p.onDone = finished
            }

            client.onReservation = { r in
                client.onReservation = nil
                let res: Reservation
                switch r {
                case .failure(let e): done(.failure(e)); return
                case .success(let x): res = x
                }
                // The grant as validated: in the future, voucher signed by the relay for A.
                guard client.reservation == res, Double(res.expire) > RelayClient.unixTime(),
                      let v = res.voucher, let voucher = try? Voucher.open(v),
                      voucher.relay == relayPeer, voucher.peer == a.peerID, voucher.expiration == res.expire,
                      res.addrs.contains(relayAddr) else {
                    done(.success("reservation not as expected: \(res)")); return
                }
                let circuit = relayAddr.appending(.p2pCircuit).appending(.p2p(a.peerID))
                RelayClient.connect(host: b, through: circuit) { r in
                    guard case .success(let c) = r else { done(.success("connect failed: \(r)")); return }
                    guard c.isRelayed, c.remotePeer == a.peerID else { done(.success("wrong connection")); return }
                    c.openStream(Self.pumpProtocol) { r in
                        guard case .success(let s) = r else { done(.success("open failed: \(r)")); return }
                        let p = CircuitPump(s, total: total); pumps.append(p); p.onDone = finished
                    }
                }
            }
            client.start()
        }
        #expect(result == "ok")
    }

    @Test(.enabled(if: PyPeer.shouldRun, PyPeer.skipReason))
    func connectToPeerWithoutReservationIsNoReservation() async throws {
        let relay = try PyPeer(["relay", "--port", "0"])
        defer { relay.stop() }
        let (_, relayPeer, relaySocket) = try Self.relayInfo(try await relay.next("ready", timeout: 60))
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        let nobody = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        let result: String = try await tl.wait(timeout: 60) { loop, done in
            let b = Host(loop: loop, identity: Ed25519PrivateKey())
            let client = RelayClient(host: b, relay: relaySocket, relayPeer: relayPeer, logger: .silent)
            RelayClientTestLoop.keep(client, on: loop)
            client.connect(to: nobody) { r in
                switch r {
                case .success: done(.success("connected"))
                case .failure(let e): done(.success("\(e.status.map { "\($0) \($0.rawValue)" } ?? "nil")"))
                }
            }
        }
        #expect(result == "NO_RESERVATION 204")
    }

    @Test(.enabled(if: PyPeer.shouldRun, PyPeer.skipReason))
    func refreshesAndComesBackAfterRelayRestart() async throws {
        let seed = String(repeating: "44", count: 32)
        var relay = try PyPeer(["relay", "--port", "0", "--seed", seed, "--reservation-ttl", "3"])
        defer { relay.stop() }
        let (_, relayPeer, relaySocket) = try Self.relayInfo(try await relay.next("ready", timeout: 60))
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }

        struct Log: Sendable { var grants: [(at: Double, expire: UInt64)] = []; var failures: [String] = []; var waits: [Double] = [] }
        let log = Mutex(Log())
        let box: LoopConfined<RelayClient?> = try await tl.run { [loop = tl.loop] in
            let a = Host(loop: loop, identity: Ed25519PrivateKey())
            let client = RelayClient(host: a, relay: relaySocket, relayPeer: relayPeer, logger: .silent)
            client.onReservation = { r in
                switch r {
                case .success(let res): log.withLock { $0.grants.append((RelayClient.unixTime(), res.expire)) }
                case .failure(let e): log.withLock { $0.failures.append(e.description) }
                }
            }
            client.onStateChange = { s in if case .waiting(let d, _) = s { log.withLock { $0.waits.append(d) } } }
            client.start()
            RelayClientTestLoop.keep(client, on: loop)
            return LoopConfined(client)
        }

        // TTL 3 s: refreshes at ¾ of what is left, never more often than once a second.
        try await relayEventually(timeout: 20, "three grants") { log.withLock { $0.grants.count >= 3 } }
        let grants = log.withLock { $0.grants }
        for (g0, g1) in zip(grants, grants.dropFirst()) {
            #expect(g1.at - g0.at >= 0.9, "refresh came too soon: \(grants)")
            #expect(g1.expire >= g0.expire)
        }
        #expect(grants.last!.expire > grants.first!.expire)
        #expect(log.withLock { $0.failures.isEmpty })

        // Kill the relay: the reservation is gone, and dials back off while the port is closed.
        let port = relaySocket.port
        relay.kill()
        try await relayEventually(timeout: 10, "loss noticed") { log.withLock { !$0.failures.isEmpty } }
        #expect(try await tl.run { box.value?.reservation == nil })
        try await Task.sleep(for: .milliseconds(1500))
        let grantsBefore = log.withLock { $0.grants.count }
        relay = try PyPeer(["relay", "--port", "\(port)", "--seed", seed])
        _ = try await relay.next("ready", timeout: 60)
        try await relayEventually(timeout: 30, "a grant from the restarted relay") { log.withLock { $0.grants.count > grantsBefore } }
        #expect(try await tl.run { box.value?.reservation != nil && box.value?.relayConnection != nil })

        // Back-off: each step doubles (with jitter in [½, 1] of the step), so every other delay grows.
        let waits = log.withLock { $0.waits }
        #expect(waits.count >= 4, "waits: \(waits)")
        #expect(waits.allSatisfy { $0 >= 0.05 && $0 <= 30 })
        for i in 0..<max(0, min(waits.count, 6) - 2) { #expect(waits[i + 2] > waits[i], "waits: \(waits)") }
        try await tl.run { box.value?.stop(); box.value = nil }
    }

    @Test(.enabled(if: PyPeer.shouldRun, PyPeer.skipReason))
    func xferToPyListenerThroughPyRelay() async throws {
        let relay = try PyPeer(["relay", "--port", "0"])
        defer { relay.stop() }
        let (relayAddr, _, _) = try Self.relayInfo(try await relay.next("ready", timeout: 60))
        let listener = try PyPeer(["listen", "--relay", relayAddr.description, "--count", "1"])
        defer { listener.stop() }
        let ready = try await listener.next("ready", timeout: 60)
        let circuit = try Multiaddr(try #require(ready.string("circuit_addr")))
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }

        let n = 1 << 20
        let result: String = try await tl.wait(timeout: 120) { loop, done in
            let b = Host(loop: loop, identity: Ed25519PrivateKey())
            RelayClient.connect(host: b, through: circuit) { r in
                guard case .success(let c) = r else { done(.success("connect failed: \(r)")); return }
                c.openStream(XferDialer.protocolID) { r in
                    guard case .success(let s) = r else { done(.success("open failed: \(r)")); return }
                    let x = XferDialer(s, bytes: n)
                    RelayClientTestLoop.keep(x, on: loop)
                    x.onDone = { done(.success($0)) }
                }
            }
        }
        #expect(result == "ok 8541181acdce96cddcb2e53f91a80f791742adc3c5f05b8d134d0ec10968fb5d")
        let xfer = try await listener.next("xfer", timeout: 30)
        #expect(xfer.bool("ok") == true, "\(xfer)")
        #expect(xfer.string("received_sha256") == "58cdf688aa5ab1bf365767d7edfc596b01a9e0361a53c0d99d162417308d94f5")
    }
}

/// Sends `total` pattern bytes as the window allows, then half-closes; checks what arrives
/// against the same pattern (raw mode, no copy).
final class CircuitPump {
    static let period = 251
    static let pattern: [UInt8] = (0..<(64 * 1024 + period)).map { UInt8($0 % period) }

    let stream: Libp2pStream
    let total: Int
    var sent = 0
    var received = 0
    var corrupt = false
    var remoteDone = false
    var onDone: (() -> Void)?
    var isDone: Bool { sent == total && remoteDone }

    init(_ s: Libp2pStream, total: Int) {
        stream = s; self.total = total
        s.onData = { [unowned self] raw in
            let start = received % Self.period
            Self.pattern.withUnsafeBytes { p in
                if memcmp(p.baseAddress! + start, raw.baseAddress!, raw.count) != 0 { corrupt = true }
            }
            received += raw.count
            stream.consume(raw.count)
        }
        s.onWritable = { [unowned self] in pump() }
        s.onRemoteClose = { [unowned self] in remoteDone = true; if isDone { onDone?() } }
        pump()
    }

    private func pump() {
        while sent < total {
            let n = min(64 * 1024, total - sent)
            let took = Self.pattern.withUnsafeBytes { stream.write(UnsafeRawBufferPointer(rebasing: $0[(sent % Self.period)..<(sent % Self.period + n)])) }
            sent += took
            if took < n { return }
        }
        stream.closeWrite()
        if isDone { onDone?() }
    }
}

/// Dialer side of the xfer test protocol (Tests/Interop/README.md): send `u64be N` and N bytes of
/// payload `dial`; read the listener's SHA-256 of them, `u64be N'` and N' bytes; send our SHA-256
/// of those; half-close; expect a clean FIN. Reports "ok <sha256 received>" or what went wrong.
final class XferDialer {
    static let protocolID = "/airlock/test/xfer/1.0.0"
    static let maxReply = 64 << 20

    /// The deterministic payload: SHA-256("airlock-xfer/" + tag + u64be(i)) blocks, cut to `count`.
    static func payload(_ tag: String, _ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 32)
        var i: UInt64 = 0
        while out.count < count {
            out += SHA256.hash(Array("airlock-xfer/\(tag)".utf8) + withUnsafeBytes(of: i.bigEndian) { Array($0) })
            i += 1
        }
        return Array(out.prefix(count))
    }

    let stream: Libp2pStream
    let sentHash: [UInt8]
    var peerHash: [UInt8]?
    var replyLength: Int?
    var reply: [UInt8] = []
    var finishedReading = false
    var onDone: ((String) -> Void)?

    init(_ s: Libp2pStream, bytes: Int) {
        stream = s
        let data = XferDialer.payload("dial", bytes)
        sentHash = SHA256.hash(data)
        s.send(withUnsafeBytes(of: UInt64(bytes).bigEndian) { Array($0) } + data)
        s.onReadable = { [unowned self] in read() }
        s.onRemoteClose = { [unowned self] in
            read()
            report(finishedReading && stream.inbox.isEmpty ? "ok \(Hex.encode(SHA256.hash(reply)))" : "FIN early or extra bytes")
        }
        s.onEnd = { [unowned self] how in if how != .closed { report("stream ended: \(how)") } }
    }

    private func read() {
        if peerHash == nil {
            guard stream.inbox.readableBytes >= 32 else { return }
            peerHash = stream.take(max: 32)
            guard peerHash == sentHash else { report("listener hashed something else"); return }
        }
        if replyLength == nil {
            guard stream.inbox.readableBytes >= 8 else { return }
            let n = stream.take(max: 8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard n <= UInt64(Self.maxReply) else { report("reply of \(n) bytes is over the cap"); return }
            replyLength = Int(n)
        }
        guard !finishedReading, let n = replyLength else { return }
        reply += stream.take(max: n - reply.count)
        if reply.count == n {
            finishedReading = true
            stream.send(SHA256.hash(reply))
            stream.closeWrite()
        }
    }

    private func report(_ s: String) {
        guard let cb = onDone else { return }
        onDone = nil
        cb(s)
    }
}
