import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockRelay
import AirlockWire

/// Set-up latency with a new circuit: what an agent's first connection to a service costs, as
/// the shim does it over its existing connection to the relay. A client peer in this process
/// (`bench-client` of the path's policy) holds one connection to the relay; then, one after
/// another, each sample is: CONNECT through the relay to the `echo` service (hop, stop), the
/// relayed connection's own upgrade (multistream, Noise XX, yamux), one `/airlock/tcp/1.0.0`
/// stream, the service's TCP connect to the echo server, one byte there and back. Then the
/// relayed connection is closed, so the next sample builds a new circuit. One warm-up sample is
/// left out.
///
/// **Thread:** the loop only.
final class BenchCircuitLatency {
    let host: Host
    let client: RelayClient
    let relayAddress: SocketAddress
    let relayPeer: PeerID
    private var samples: [Int] = []

    init(loop: EventLoop, key: Ed25519PrivateKey, relay: SocketAddress, relayPeer: PeerID) {
        var config = HostConfig()
        config.handshakeTimeout = BenchPeers.connectTimeout
        config.messageTimeout = BenchPeers.connectTimeout
        host = Host(loop: loop, identity: key, config: config)
        client = RelayClient(host: host, relay: relay, relayPeer: relayPeer, logger: .silent)
        client.timing.connectTimeout = BenchPeers.connectTimeout
        relayAddress = relay
        self.relayPeer = relayPeer
    }

    /// Connects to the relay, then takes `count` samples (plus the warm-up) to `target`;
    /// `done` with the samples in microseconds.
    func run(count: Int, target: PeerID, _ done: @escaping (Result<[Int], CommandFailure>) -> Void) {
        host.dial(relayAddress, expect: relayPeer) { [self] r in
            switch r {
            case .failure(let e): done(.failure(CommandFailure("bench: connection to the relay failed: \(e)")))
            case .success: next(left: count + 1, target: target, done)
            }
        }
    }

    private func next(left: Int, target: PeerID, _ done: @escaping (Result<[Int], CommandFailure>) -> Void) {
        guard left > 0 else { done(.success(Array(samples.dropFirst()))); return }
        let t0 = MonotonicTime.now()
        client.connect(to: target) { [self] r in
            switch r {
            case .failure(let e): done(.failure(CommandFailure("bench: CONNECT to the echo service failed: \(e)")))
            case .success(let c):
                c.openStream(ProtocolID.airlockTCP) { [self] r in
                    switch r {
                    case .failure(let e):
                        c.close(reason: "bench")
                        done(.failure(CommandFailure("bench: stream to the echo service failed: \(e)")))
                    case .success(let s):
                        var answered = false
                        s.onData = { [self, unowned s] raw in
                            s.consume(raw.count)
                            guard !answered else { return }
                            answered = true
                            samples.append(Int((MonotonicTime.now().nanoseconds - t0.nanoseconds) / 1000))
                            c.close(reason: "bench: sample taken")
                            host.loop.runSoon { [self] in next(left: left - 1, target: target, done) }
                        }
                        s.onEnd = { end in
                            guard !answered else { return }
                            answered = true
                            done(.failure(CommandFailure("bench: the echo stream ended (\(end)) before its answer")))
                        }
                        s.send([0x2a])
                    }
                }
            }
        }
    }

    func shutdown() { host.shutdown() }
}
