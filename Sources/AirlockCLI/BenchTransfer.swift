import AirlockCore
import AirlockCrypto
import AirlockIO

/// The relay path: a relay child process, the service and client peers of `BenchPeers` in this
/// process, one relayed connection and one stream carrying `bytes` one way. The relay's CPU time
/// is read from `/proc/PID` just before the first byte is written and just after the sink saw the
/// sender's FIN, so set-up (handshakes, reservation) is not counted.
enum BenchTransfer {
    struct Measurement: Sendable {
        var bytes: Int
        var wallSeconds: Double
        var relay: BenchProbe.CPU
        /// This process (both peers: one encrypt and one decrypt pass, pattern and check).
        var peers: BenchProbe.CPU

        var bitsPerSecond: Double { Double(bytes) * 8 / wallSeconds }
        var relaySecondsPerGiB: Double { perGiB(relay.total) }
        var relayUserSecondsPerGiB: Double { perGiB(relay.user) }
        var relaySystemSecondsPerGiB: Double { perGiB(relay.system) }
        var peersSecondsPerGiB: Double { perGiB(peers.total) }
        private func perGiB(_ s: Double) -> Double { s * BenchReport.gib / Double(bytes) }
    }

    static func run(binary: String, dir: String, loop: EventLoop, bytes: Int) throws -> Measurement {
        let serviceKey = Ed25519PrivateKey(), clientKey = Ed25519PrivateKey()
        let relay = try BenchRelay(binary: binary, dir: dir, tag: "transfer", service: PeerID(publicKey: serviceKey.publicKey),
                                   client: PeerID(publicKey: clientKey.publicKey), limits: [])
        defer { relay.stop() }
        return try run(relay: relay.address, relayPeer: relay.peerID, cpu: { try relay.cpu() }, log: relay.logPath, loop: loop,
                       bytes: bytes, serviceKey: serviceKey, clientKey: clientKey)
    }

    /// The transfer through any relay at `relay` (ours or another implementation's), whose CPU
    /// time `cpu` reads and whose log `log` is shown when a step fails.
    static func run(relay address: SocketAddress, relayPeer: PeerID, cpu: () throws -> BenchProbe.CPU, log: String, loop: EventLoop,
                    bytes: Int, serviceKey: Ed25519PrivateKey, clientKey: Ed25519PrivateKey) throws -> Measurement {
        let peers = LoopOwned<BenchPeers>()
        defer { peers.shutdown(on: loop) }

        let ready = BenchWait<Result<Void, CommandFailure>>()
        loop.execute {
            let p = BenchPeers(loop: loop, relay: address, relayPeer: relayPeer, serviceKey: serviceKey, clientKey: clientKey, room: 16)
            peers.value = p
            p.start { r in
                guard case .success = r else { ready.finish(r); return }
                p.prepareTransfer(bytes: bytes) { ready.finish($0) }
            }
        }
        try wait(ready, seconds: BenchPeers.connectTimeout, "setting up the relayed connection", log)

        let done = BenchWait<Result<Double, CommandFailure>>()
        let relay0 = try cpu(), self0 = BenchProbe.selfCPU()
        loop.execute { peers.value?.runTransfer { done.finish($0) } }
        // Generous for a debug build (or a slow relay): 60 s plus 2 s per 64 MiB.
        let limit = 60 + Double(bytes) / Double(32 << 20)
        guard let outcome = done.wait(seconds: limit) else {
            throw CommandFailure("bench: the transfer did not finish within \(Int(limit)) s\n\(BenchRelay.tail(log))")
        }
        let relay1 = try cpu(), self1 = BenchProbe.selfCPU()
        let wall = try outcome.get()
        return Measurement(bytes: bytes, wallSeconds: wall, relay: relay1 - relay0, peers: self1 - self0)
    }

    /// Waits for a set-up step; a timeout or failure names the step and shows the relay's log.
    static func wait(_ w: BenchWait<Result<Void, CommandFailure>>, seconds: Double, _ what: String, _ relay: BenchRelay) throws {
        try wait(w, seconds: seconds, what, relay.logPath)
    }

    static func wait(_ w: BenchWait<Result<Void, CommandFailure>>, seconds: Double, _ what: String, _ log: String) throws {
        guard let r = w.wait(seconds: seconds) else {
            throw CommandFailure("bench: timed out \(what) after \(Int(seconds)) s\n\(BenchRelay.tail(log))")
        }
        if case .failure(let e) = r { throw CommandFailure("\(e)\n\(BenchRelay.tail(log))") }
    }
}

/// A loop-owned object handed around by reference from the bench's main thread.
/// `@unchecked Sendable`: `value` is only read or written on the loop's thread (inside `execute`).
final class LoopOwned<T>: @unchecked Sendable {
    var value: T?

    /// Shuts the peers down on the loop and waits until that ran.
    func shutdown(on loop: EventLoop) where T == BenchPeers {
        let done = BenchWait<Bool>()
        loop.execute {
            self.value?.shutdown()
            self.value = nil
            done.finish(true)
        }
        _ = done.wait(seconds: 10)
    }
}
