import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockRelay
import AirlockWire

/// The two ends the bench drives through a relay, both in this process on one loop: a service
/// peer that reserves (`RelayClient` + `StopHandler`) and sinks the bench protocol, and a client
/// peer that CONNECTs through the relay (`RelayClient.connect`), sends, and opens idle circuits
/// or plain connections.
///
/// **Thread:** the loop only; every completion runs there.
final class BenchPeers {
    /// The protocol of the transfer stream: the client sends, the service checks and discards.
    static let transferProtocol = "/airlock/bench/transfer/1.0.0"
    /// The protocol of the circuits' little data: the service echoes what comes in.
    static let echoProtocol = "/airlock/bench/echo/1.0.0"
    /// Bytes each circuit of the memory phase moves (there and back) before it idles.
    static let echoSize = 64
    /// Seconds for a CONNECT (or a dial) and its handshake, generous for debug builds.
    static let connectTimeout = 60.0

    let loop: EventLoop
    let service: Host
    let client: Host
    let relayAddress: SocketAddress
    let relayPeer: PeerID
    private let reserver: RelayClient
    private let dialer: RelayClient
    private let stops: StopHandler
    /// Everything opened, kept so it stays open (idle) until `shutdown`.
    private(set) var circuits: [Libp2pConnection] = []
    private(set) var plain: [Libp2pConnection] = []
    /// The echo streams of the circuits, kept open (idle) like the circuits.
    private var echoStreams: [Libp2pStream] = []
    private var sink: BenchSink?
    private var pump: BenchPump?

    /// `room`: streams and connections each host must accept (the number of circuits or connections).
    init(loop: EventLoop, relay: SocketAddress, relayPeer: PeerID, serviceKey: Ed25519PrivateKey,
         clientKey: Ed25519PrivateKey, room: Int) {
        self.loop = loop
        relayAddress = relay
        self.relayPeer = relayPeer
        var config = HostConfig()
        config.maxStreamsPerConnection = room + 64
        config.maxConnections = room + 64
        config.handshakeTimeout = BenchPeers.connectTimeout
        config.messageTimeout = BenchPeers.connectTimeout
        service = Host(loop: loop, identity: serviceKey, config: config)
        client = Host(loop: loop, identity: clientKey, config: config)
        reserver = RelayClient(host: service, relay: relay, relayPeer: relayPeer, logger: .silent)
        dialer = RelayClient(host: client, relay: relay, relayPeer: relayPeer, logger: .silent)
        dialer.timing.connectTimeout = BenchPeers.connectTimeout
        stops = StopHandler(host: service, logger: .silent)
        stops.install()
        service.handle(BenchPeers.echoProtocol) { s in
            s.onData = { [unowned s] raw in
                s.send(Array(raw.bindMemory(to: UInt8.self)))
                s.consume(raw.count)
            }
        }
        service.handle(BenchPeers.transferProtocol) { [unowned self] s in
            guard let sink = self.sink, sink.stream == nil else { s.reset(); return }
            sink.attach(s)
        }
    }

    /// Reserves on the relay with the service peer, then opens one circuit from the client
    /// (which also makes the client's connection to the relay, reused by later CONNECTs).
    func start(_ done: @escaping (Result<Void, CommandFailure>) -> Void) {
        var reported = false
        reserver.onReservation = { [unowned self] r in
            guard !reported else { return }
            reported = true
            switch r {
            case .failure(let e): done(.failure(CommandFailure("bench: the service could not reserve on the relay: \(e)")))
            case .success: self.openCircuit { r in done(r.map { _ in () }) }
            }
        }
        reserver.start()
    }

    /// One CONNECT from the client to the service through the relay, kept open.
    func openCircuit(_ done: @escaping (Result<Libp2pConnection, CommandFailure>) -> Void) {
        dialer.connect(to: service.peerID) { [unowned self] r in
            switch r {
            case .success(let c):
                self.circuits.append(c)
                done(.success(c))
            case .failure(let e):
                done(.failure(CommandFailure("bench: CONNECT through the relay failed: \(e)")))
            }
        }
    }

    /// Opens `count` more circuits, at most `window` at a time (the relay processes a bounded
    /// number of hop streams per connection at once); each moves `echoSize` bytes there and
    /// back on a stream it keeps open.
    func openCircuits(_ count: Int, window: Int, _ done: @escaping (Result<Void, CommandFailure>) -> Void) {
        BenchPeers.paced(count, window: window, done) { [unowned self] one in
            self.openCircuit { r in
                switch r {
                case .failure(let e): one(.failure(e))
                case .success(let c): self.echo(on: c, one)
                }
            }
        }
    }

    /// One echo stream on `c`: `echoSize` bytes out, the same back.
    private func echo(on c: Libp2pConnection, _ done: @escaping (Result<Void, CommandFailure>) -> Void) {
        c.openStream(BenchPeers.echoProtocol) { [unowned self] r in
            switch r {
            case .failure(let e): done(.failure(CommandFailure("bench: cannot open an echo stream: \(e)")))
            case .success(let s):
                self.echoStreams.append(s)
                var got = 0
                s.onData = { [unowned s] raw in
                    s.consume(raw.count)
                    got += raw.count
                    if got == BenchPeers.echoSize { done(.success(())) }
                }
                s.send([UInt8](repeating: 0x65, count: BenchPeers.echoSize))
            }
        }
    }

    /// Opens `count` plain connections (Noise and yamux, no streams) from the client to the relay.
    func openConnections(_ count: Int, window: Int, _ done: @escaping (Result<Void, CommandFailure>) -> Void) {
        BenchPeers.paced(count, window: window, done) { [unowned self] one in
            self.client.dial(self.relayAddress, expect: self.relayPeer) { r in
                switch r {
                case .success(let c): self.plain.append(c); one(.success(()))
                case .failure(let e): one(.failure(CommandFailure("bench: connection to the relay failed: \(e)")))
                }
            }
        }
    }

    /// Opens the transfer stream on the first circuit; `ready` once both ends have it.
    func prepareTransfer(bytes: Int, _ ready: @escaping (Result<Void, CommandFailure>) -> Void) {
        guard let c = circuits.first else { ready(.failure(CommandFailure("bench: no circuit to send on"))); return }
        let sink = BenchSink(expected: bytes)
        self.sink = sink
        var waiting = 2
        func one() { waiting -= 1; if waiting == 0 { ready(.success(())) } }
        sink.onAttached = one
        c.openStream(BenchPeers.transferProtocol) { [unowned self] r in
            switch r {
            case .failure(let e): ready(.failure(CommandFailure("bench: cannot open the transfer stream: \(e)")))
            case .success(let s):
                self.pump = BenchPump(s, total: bytes)
                one()
            }
        }
    }

    /// Sends the prepared transfer; `done` with (wall seconds, bytes checked) when the sink saw FIN.
    func runTransfer(_ done: @escaping (Result<Double, CommandFailure>) -> Void) {
        guard let pump, let sink else { done(.failure(CommandFailure("bench: transfer not prepared"))); return }
        let t0 = BenchProbe.wallSeconds()
        sink.onDone = { received, corrupt in
            let wall = BenchProbe.wallSeconds() - t0
            guard received == sink.expected, !corrupt else {
                done(.failure(CommandFailure("bench: the service received \(received) of \(sink.expected) bytes\(corrupt ? ", corrupted" : "")")))
                return
            }
            done(.success(wall))
        }
        sink.onFailed = { why in done(.failure(CommandFailure("bench: transfer stream ended early: \(why)"))) }
        pump.start()
    }

    /// Closes everything (the relay child is stopped by its owner).
    func shutdown() {
        reserver.stop()
        sink = nil
        pump = nil
        service.shutdown()
        client.shutdown()
        circuits.removeAll()
        plain.removeAll()
        echoStreams.removeAll()
    }

    /// Runs `one` `count` times, `window` at a time; `done` after all succeeded or the first failure.
    static func paced(_ count: Int, window: Int, _ done: @escaping (Result<Void, CommandFailure>) -> Void,
                      _ one: @escaping (@escaping (Result<Void, CommandFailure>) -> Void) -> Void) {
        guard count > 0 else { done(.success(())); return }
        var started = 0, finished = 0, failed = false
        func next() {
            while !failed, started < count, started - finished < window {
                started += 1
                one { r in
                    guard !failed else { return }
                    if case .failure = r { failed = true; done(r); return }
                    finished += 1
                    if finished == count { done(.success(())) } else { next() }
                }
            }
        }
        next()
    }
}
