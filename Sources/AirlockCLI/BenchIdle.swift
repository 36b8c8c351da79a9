#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO

/// Relay memory per idle circuit and per idle connection: a fresh relay child for each, its
/// `VmRSS` read after the fixed set-up (reservation, one circuit or one connection) and again
/// after `count` more were opened and left idle. A fresh relay keeps memory freed by earlier
/// phases from being reused and hiding growth.
enum BenchIdle {
    struct Measurement: Sendable {
        var count: Int
        var beforeKiB: Int
        var afterKiB: Int
        var kibPerItem: Double { Double(afterKiB - beforeKiB) / Double(count) }
    }

    /// CONNECTs in flight at once: under the relay's `max_hop_in_flight_per_connection` (16).
    static let circuitWindow = 8
    /// Dials in flight at once: well under the relay's `max_handshaking_connections` (256).
    static let connectionWindow = 32
    /// Pause before reading memory, so the relay has handled every last message.
    static let settle: useconds_t = 500_000

    static func circuits(binary: String, dir: String, loop: EventLoop, count: Int) throws -> Measurement {
        let room = count + 64
        return try measure(binary: binary, dir: dir, tag: "circuits", loop: loop, count: count,
                           limits: [("max_circuits", room), ("max_circuits_per_peer", room), ("max_streams_per_connection", room)]) { p, done in
            p.openCircuits(count, window: circuitWindow, done)
        }
    }

    static func connections(binary: String, dir: String, loop: EventLoop, count: Int) throws -> Measurement {
        let room = count + 64
        return try measure(binary: binary, dir: dir, tag: "connections", loop: loop, count: count,
                           limits: [("max_connections", room)]) { p, done in
            p.openConnections(count, window: connectionWindow, done)
        }
    }

    private static func measure(binary: String, dir: String, tag: String, loop: EventLoop, count: Int, limits: [(String, Int)],
                                _ open: @escaping (BenchPeers, @escaping (Result<Void, CommandFailure>) -> Void) -> Void) throws -> Measurement {
        let serviceKey = Ed25519PrivateKey(), clientKey = Ed25519PrivateKey()
        let relay = try BenchRelay(binary: binary, dir: dir, tag: tag, service: PeerID(publicKey: serviceKey.publicKey),
                                   client: PeerID(publicKey: clientKey.publicKey), limits: limits)
        defer { relay.stop() }
        let peers = LoopOwned<BenchPeers>()
        defer { peers.shutdown(on: loop) }
        let address = relay.address, relayPeer = relay.peerID
        let room = count + 64

        let ready = BenchWait<Result<Void, CommandFailure>>()
        loop.execute {
            let p = BenchPeers(loop: loop, relay: address, relayPeer: relayPeer, serviceKey: serviceKey, clientKey: clientKey, room: room)
            peers.value = p
            p.start { ready.finish($0) }
        }
        try BenchTransfer.wait(ready, seconds: BenchPeers.connectTimeout, "reserving and opening the first circuit", relay)
        usleep(settle)
        let before = try relay.residentKiB()

        let opened = BenchWait<Result<Void, CommandFailure>>()
        nonisolated(unsafe) let openOnLoop = open
        loop.execute {
            guard let p = peers.value else { return }
            openOnLoop(p) { opened.finish($0) }
        }
        // Generous for a debug build: 30 s plus 50 ms per item.
        try BenchTransfer.wait(opened, seconds: 30 + Double(count) / 20, "opening \(count) \(tag)", relay)
        usleep(settle)
        let after = try relay.residentKiB()
        return Measurement(count: count, beforeKiB: before, afterKiB: after)
    }
}
