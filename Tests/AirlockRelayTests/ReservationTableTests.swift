import Testing
import AirlockCore
@testable import AirlockRelay

@Suite struct ReservationTableTests {
    /// Distinct, valid identity peer IDs (an identity multihash of a fake 36-byte key).
    static func peer(_ n: Int) -> PeerID {
        var key: [UInt8] = [0x08, 0x01, 0x12, 0x20] + [UInt8](repeating: 0, count: 32)
        key[4] = UInt8(n & 0xff); key[5] = UInt8(n >> 8)
        return try! PeerID(bytes: [0x00, 0x24] + key)
    }

    func config(_ f: (inout RelayConfig) -> Void = { _ in }) -> RelayConfig {
        var c = RelayConfig(); f(&c); return c
    }

    @Test func grantRefreshAndExpire() {
        var t = ReservationTable(config: config { $0.reservationTTL = 100 })
        #expect(t.reserve(peer: Self.peer(1), connection: 1, ip: "127.0.0.1", now: 1000) == .granted(expire: 1100, refreshed: false))
        #expect(t.reserve(peer: Self.peer(1), connection: 1, ip: "127.0.0.1", now: 1050) == .granted(expire: 1150, refreshed: true))
        #expect(t.count == 1 && t.count(ip: "127.0.0.1") == 1)
        #expect(t.lookup(Self.peer(1), now: 1149)?.connection == 1)
        #expect(t.lookup(Self.peer(1), now: 1150) == nil)
        #expect(t.sweep(now: 1150).map(\.peer) == [Self.peer(1)])
        #expect(t.count == 0 && t.count(ip: "127.0.0.1") == 0)
    }

    @Test func newConnectionReplacesOldAndCountsStayExact() {
        var t = ReservationTable(config: config { $0.reserveBurst = 1000 })
        for conn in 1...200 {
            guard case .granted = t.reserve(peer: Self.peer(7), connection: UInt64(conn), ip: "127.0.0.1", now: 10) else {
                Issue.record("reconnect \(conn) was refused"); return
            }
            #expect(t.count == 1)
        }
        #expect(t.lookup(Self.peer(7), now: 11)?.connection == 200)
        // Closing an old connection does not take the live reservation with it.
        #expect(t.connectionClosed(3).isEmpty)
        #expect(t.connectionClosed(200).count == 1)
        #expect(t.count == 0 && t.count(ip: "127.0.0.1") == 0)
    }

    @Test func perIPAndTotalCaps() {
        var t = ReservationTable(config: config { $0.maxReservationsPerIP = 3; $0.maxReservations = 5 })
        for i in 0..<3 { #expect(t.reserve(peer: Self.peer(i), connection: UInt64(i), ip: "10.0.0.1", now: 0) != .refusedIPCap) }
        #expect(t.reserve(peer: Self.peer(3), connection: 3, ip: "10.0.0.1", now: 0) == .refusedIPCap)
        // A refresh by a holder is not blocked by its own IP's full count.
        #expect(t.reserve(peer: Self.peer(0), connection: 0, ip: "10.0.0.1", now: 0) == .granted(expire: 3600, refreshed: true))
        #expect(t.reserve(peer: Self.peer(4), connection: 4, ip: "10.0.0.2", now: 0) == .granted(expire: 3600, refreshed: false))
        #expect(t.reserve(peer: Self.peer(5), connection: 5, ip: "10.0.0.3", now: 0) == .granted(expire: 3600, refreshed: false))
        #expect(t.reserve(peer: Self.peer(6), connection: 6, ip: "10.0.0.4", now: 0) == .refusedTotalCap)
        #expect(t.count == 5)
    }

    @Test func tightRefreshLoopIsRateLimitedAndKeepsReservation() {
        var t = ReservationTable(config: config { $0.reserveBurst = 4; $0.reserveRefillPerSecond = 1 })
        var granted = 0, limited = 0
        for i in 0..<100 {
            switch t.reserve(peer: Self.peer(1), connection: 1, ip: "127.0.0.1", now: 100 + Double(i) * 0.01) {
            case .granted: granted += 1
            case .rateLimited: limited += 1
            default: Issue.record("unexpected outcome")
            }
        }
        #expect(granted == 4 && limited == 96)  // 0.99 s refills 0.99 tokens: not yet a fifth
        #expect(t.lookup(Self.peer(1), now: 101) != nil)
        // Idle rate-limit state is forgotten once it carries no information.
        _ = t.remove(peer: Self.peer(1))
        _ = t.sweep(now: 10_000)
        #expect(t.count == 0)
    }
}
