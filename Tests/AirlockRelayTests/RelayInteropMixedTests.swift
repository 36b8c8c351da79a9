#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockWire
@testable import AirlockRelay

/// airlock's RelayServer (in this process, on a loop thread) between an airlock peer and a
/// py-libp2p 0.8.1 peer (Tests/Interop/peer.py), each way round, on 127.0.0.1.
@Suite(.serialized) struct RelayInteropMixedTests {
    /// peer.py identities (Tests/Interop/README.md).
    static let pyListenSeed = String(repeating: "22", count: 32)
    static let pyListenPeer = "12D3KooWLdJAwPtyQ5RFnr9wGXsQzpf3P2SeqFbYkqbfVehLu4Ns"
    static let pyDialSeed = String(repeating: "33", count: 32)
    static let pyDialPeer = "12D3KooWBRFW3HkJCLKSWb4yG6iWRBpgNjbM4FFvNsL5T5JKTqrd"
    static let dial1MiB = "58cdf688aa5ab1bf365767d7edfc596b01a9e0361a53c0d99d162417308d94f5"
    static let listen1MiB = "8541181acdce96cddcb2e53f91a80f791742adc3c5f05b8d134d0ec10968fb5d"

    /// The relay and the airlock peers' keys. Policy: py listen and the airlock service may
    /// reserve; the airlock dialer may reach py listen, py dial may reach the airlock service.
    final class Setup: Sendable {
        let relayKey = Ed25519PrivateKey()
        let serviceKey = Ed25519PrivateKey()
        let dialerKey = Ed25519PrivateKey()
        let logs = LogBox()
        var servicePeer: PeerID { PeerID(publicKey: serviceKey.publicKey) }
        var dialerPeer: PeerID { PeerID(publicKey: dialerKey.publicKey) }
        var relayPeer: PeerID { PeerID(publicKey: relayKey.publicKey) }

        var policy: Policy {
            let text = """
            { "version": 1,
              "services": { "py-listen": { "peer": "\(pyListenPeer)" }, "swift-svc": { "peer": "\(servicePeer)" } },
              "peers": { "py-dial": { "peer": "\(pyDialPeer)" }, "swift-dial": { "peer": "\(dialerPeer)" } },
              "rules": [ { "from": "swift-dial", "to": "py-listen" }, { "from": "py-dial", "to": "swift-svc" } ] }
            """
            return try! Policy.parse(text: text, file: "mixed-policy.json")
        }

        /// Starts the relay on `loop` (call there); returns its listen address (the server lives until the loop stops).
        func startRelay(on loop: EventLoop) throws -> SocketAddress {
            let host = Host(loop: loop, identity: relayKey)
            let addr = try host.listen(on: .loopbackV4(port: 0))
            host.listenAddrs = [Multiaddr(ip4: (127, 0, 0, 1), port: addr.port)]
            let logger = Logger(component: "relay", minimum: .error, fd: -1)
            logger.addSink { [logs] in logs.append($0) }
            let server = RelayServer(host: host, config: RelayConfig(), policy: policy, logger: logger)
            server.start()
            RelayClientTestLoop.keep(server, on: loop)
            return addr
        }

        func relayAddr(_ socket: SocketAddress) -> String { "/ip4/127.0.0.1/tcp/\(socket.port)/p2p/\(relayPeer)" }
    }

    @Test(.enabled(if: PyPeer.shouldRun, PyPeer.skipReason))
    func airlockDialerReachesPyListenerThroughAirlockRelay() async throws {
        let setup = Setup()
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        let relaySocket = try await tl.run { [loop = tl.loop] in try setup.startRelay(on: loop) }

        let listener = try PyPeer(["listen", "--relay", setup.relayAddr(relaySocket), "--seed", Self.pyListenSeed, "--count", "1"])
        defer { listener.stop() }
        let ready = try await listener.next("ready", timeout: 60)
        #expect(ready.string("peer_id") == Self.pyListenPeer && ready.bool("reserved") == true)
        let target = try PeerID(Self.pyListenPeer)

        let n = 1 << 20
        let result: String = try await tl.wait(timeout: 120) { loop, done in
            let b = Host(loop: loop, identity: setup.dialerKey)
            let client = RelayClient(host: b, relay: relaySocket, relayPeer: setup.relayPeer, logger: .silent)
            RelayClientTestLoop.keep(client, on: loop)
            client.connect(to: target) { r in
                guard case .success(let c) = r else { done(.success("connect failed: \(r)")); return }
                guard c.isRelayed, c.remotePeer == target else { done(.success("wrong connection")); return }
                c.openStream(XferDialer.protocolID) { r in
                    guard case .success(let s) = r else { done(.success("open failed: \(r)")); return }
                    let x = XferDialer(s, bytes: n)
                    RelayClientTestLoop.keep(x, on: loop)
                    x.onDone = { done(.success($0)) }
                }
            }
        }
        // The Swift dialer checked that the listener hashed what it sent, and hashed the reply.
        #expect(result == "ok \(Self.listen1MiB)")
        let xfer = try await listener.next("xfer", timeout: 30)
        #expect(xfer.bool("ok") == true, "\(xfer)")
        #expect(xfer.int("received") == n && xfer.string("received_sha256") == Self.dial1MiB, "\(xfer)")
        #expect(xfer.string("peer_received_sha256") == Self.listen1MiB, "\(xfer)")

        try await relayEventually(timeout: 10, "the circuit closes") { !setup.logs.lines("circuit_closed").isEmpty }
        #expect(setup.logs.lines("reservation", "peer=\(Self.pyListenPeer)", "status=OK").count >= 1)
        #expect(setup.logs.lines("circuit_opened", "src=\(setup.dialerPeer)", "dst=\(Self.pyListenPeer)").count == 1)
        let closed = try #require(setup.logs.lines("circuit_closed", "src=\(setup.dialerPeer)").first)
        #expect(Self.field(closed, "bytes_up").map { $0 > n } == true && Self.field(closed, "bytes_down").map { $0 > n } == true, "\(closed)")
    }

    @Test(.enabled(if: PyPeer.shouldRun, PyPeer.skipReason))
    func pyDialerReachesAirlockServiceThroughAirlockRelay() async throws {
        let setup = Setup()
        let tl = try RelayClientTestLoop()
        defer { tl.stop() }
        let relaySocket = try await tl.run { [loop = tl.loop] in try setup.startRelay(on: loop) }

        // The airlock service: reserves, accepts circuits, serves the xfer listener side.
        struct Seen: Sendable { var reserved = false; var reserveError: String?; var results: [String] = []; var circuitsFrom: [String] = [] }
        let seen = Mutex(Seen())
        let box: LoopConfined<RelayClient?> = try await tl.run { [loop = tl.loop] in
            let a = Host(loop: loop, identity: setup.serviceKey)
            let stop = StopHandler(host: a, logger: .silent)
            stop.onCircuit = { c, _ in seen.withLock { $0.circuitsFrom.append(c.remotePeer.description) } }
            stop.install()
            a.handle(XferListener.protocolID) { s in
                let x = XferListener(s)
                x.onDone = { r in seen.withLock { $0.results.append(r) } }
                RelayClientTestLoop.keep(x, on: loop)
            }
            let client = RelayClient(host: a, relay: relaySocket, relayPeer: setup.relayPeer, logger: .silent)
            client.onReservation = { r in
                seen.withLock { s in
                    switch r {
                    case .success: s.reserved = true
                    case .failure(let e): s.reserveError = e.description
                    }
                }
            }
            client.start()
            RelayClientTestLoop.keep(stop, on: loop)
            return LoopConfined(client)
        }
        try await relayEventually(timeout: 20, "the airlock service's reservation") { seen.withLock { $0.reserved } }
        #expect(seen.withLock { $0.reserveError } == nil)

        let dialer = try PyPeer(["dial", "--relay", setup.relayAddr(relaySocket), "--target", setup.servicePeer.description,
                                 "--seed", Self.pyDialSeed, "--bytes", "1M", "--timeout", "120"])
        defer { dialer.kill() }
        let r = try await dialer.next("result", timeout: 120)
        #expect(r.bool("ok") == true && r.bool("eof") == true, "\(r)")
        #expect(r.int("sent") == 1 << 20 && r.int("received") == 1 << 20, "\(r)")
        #expect(r.string("sent_sha256") == Self.dial1MiB && r.string("peer_received_sha256") == Self.dial1MiB, "\(r)")
        #expect(r.string("received_sha256") == Self.listen1MiB, "\(r)")
        for _ in 0..<250 where dialer.process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!dialer.process.isRunning && dialer.process.terminationStatus == 0, "stderr: \(dialer.stderrText.suffix(2000))")

        // The Swift side: what arrived hashes to the reference, the dialer confirmed our reply, FIN seen.
        try await relayEventually(timeout: 10, "the airlock listener's verdict") { !seen.withLock { $0.results.isEmpty } }
        #expect(seen.withLock { $0.results } == ["ok \(Self.dial1MiB)"])
        #expect(seen.withLock { $0.circuitsFrom } == [Self.pyDialPeer])

        // The relay: py dial's own RESERVE refused (a peer, not a service), its CONNECT spliced.
        try await relayEventually(timeout: 10, "the circuit closes") { !setup.logs.lines("circuit_closed").isEmpty }
        #expect(!setup.logs.lines("reservation", "peer=\(Self.pyDialPeer)", "status=PERMISSION_DENIED").isEmpty)
        #expect(setup.logs.lines("circuit_opened", "src=\(Self.pyDialPeer)", "dst=\(setup.servicePeer)").count == 1)
        #expect(setup.logs.lines("circuit_refused").isEmpty, "\(setup.logs.lines("circuit_refused"))")
        try await tl.run { box.value?.stop(); box.value = nil }
    }

    /// The integer value of `key=` in a log line.
    static func field(_ line: String, _ key: String) -> Int? {
        guard let r = line.range(of: " \(key)=") else { return nil }
        return Int(line[r.upperBound...].prefix { $0.isNumber })
    }
}

/// Listener side of the xfer test protocol (Tests/Interop/README.md): read `u64be N` and N bytes
/// of payload; reply with their SHA-256, `u64be N` and N bytes of payload `listen`; read the
/// dialer's SHA-256 of that reply; expect a clean FIN; half-close. Reports "ok <sha256 received>"
/// or what went wrong.
final class XferListener {
    static let protocolID = XferDialer.protocolID
    static let maxBytes = 64 << 20

    let stream: Libp2pStream
    var length: Int?
    var received: [UInt8] = []
    var replyHash: [UInt8]?
    var peerHash: [UInt8]?
    var onDone: ((String) -> Void)?

    init(_ s: Libp2pStream) {
        stream = s
        s.onReadable = { [unowned self] in read() }
        s.onRemoteClose = { [unowned self] in
            read()
            guard let replyHash, let peerHash else { report("FIN before the dialer's hash"); return }
            guard stream.inbox.isEmpty else { report("bytes after the dialer's hash"); return }
            guard peerHash == replyHash else { report("dialer hashed something else"); return }
            stream.closeWrite()
            report("ok \(Hex.encode(SHA256.hash(received)))")
        }
        s.onEnd = { [unowned self] how in if how != .closed { report("stream ended: \(how)") } }
        read()
    }

    private func read() {
        if length == nil {
            guard stream.inbox.readableBytes >= 8 else { return }
            let n = stream.take(max: 8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard n <= UInt64(Self.maxBytes) else { stream.reset(); report("dialer announced \(n) bytes, over the cap"); return }
            length = Int(n)
            received.reserveCapacity(Int(n))
        }
        guard let n = length else { return }
        if replyHash == nil {
            received += stream.take(max: n - received.count)
            guard received.count == n else { return }
            let reply = XferDialer.payload("listen", n)
            replyHash = SHA256.hash(reply)
            stream.send(SHA256.hash(received) + withUnsafeBytes(of: UInt64(n).bigEndian) { Array($0) } + reply)
        }
        if peerHash == nil, stream.inbox.readableBytes >= 32 {
            peerHash = stream.take(max: 32)
        }
    }

    private func report(_ s: String) {
        guard let cb = onDone else { return }
        onDone = nil
        cb(s)
    }
}
