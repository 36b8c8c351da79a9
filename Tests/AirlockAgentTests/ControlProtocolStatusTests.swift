import Foundation
import Testing
import AirlockIO
@testable import AirlockAgent

/// The `status` reply always fits one control message, however much the relay holds.
@Suite struct ControlProtocolStatusTests {
    static let peer = "12D3KooWHFmLe1qnPUWizb7BGJbvd6Tvk5nWfxtX8ZcRb6dqFuEf"

    /// A status with `n` of everything, each entry as long as real ones get.
    static func full(_ n: Int, cap: Int) -> ControlProtocol.Status {
        let name = String(repeating: "a", count: 32)
        let k = min(n, cap)
        return ControlProtocol.Status(
            relay: peer, policy: "/etc/airlock/policy.json", time: 1_700_000_000,
            agents: Array(repeating: .init(name: name, agent: name, kind: "attachment", uid: 4_294_967_294, peer: peer,
                                           agentAddress: "169.254.255.255", seconds: 123456.789, circuits: 1024), count: k),
            reservations: Array(repeating: .init(peer: peer, name: name, expire: 1_700_003_600, expiresIn: 3599.99), count: k),
            circuits: Array(repeating: .init(source: peer, sourceName: name, target: peer, targetName: name,
                                             bytesUp: .max, bytesDown: .max, seconds: 123456.789), count: k),
            refusals: Array(repeating: .init(time: 1_700_000_000.123, kind: "connect", source: peer, sourceName: name, target: peer,
                                             targetName: name, status: "RESOURCE_LIMIT_EXCEEDED", reason: "reservation-connection-gone"), count: k),
            agentsTotal: n, reservationsTotal: n, circuitsTotal: n, refusalsTotal: n,
            counters: Dictionary(uniqueKeysWithValues: (0..<60).map { ("counter_with_a_long_name_\($0)", UInt64.max) }))
    }

    @Test func aFullStatusIsTrimmedToFitOneMessage() throws {
        // 64 of everything does not fit: the lists are halved until it does.
        #expect((try? ControlMessage.encode(type: "status", body: Self.full(1000, cap: ControlProtocol.Status.maxItems))) == nil)
        let s = ControlProtocol.Status.fitting { Self.full(1000, cap: $0) }
        let bytes = try ControlMessage.encode(type: "status", body: s)
        #expect(bytes.count <= ControlSocket.maxPayload)
        #expect(s.circuits.count >= 16 && s.circuits.count < ControlProtocol.Status.maxItems)
        #expect(s.circuitsTotal == 1000 && s.refusalsTotal == 1000)
        let back = try ControlMessage.decode(ControlProtocol.Status.self, from: bytes).body
        #expect(back == s)
    }

    @Test func aSmallStatusIsKeptWhole() {
        let s = ControlProtocol.Status.fitting { Self.full(3, cap: $0) }
        #expect(s.agents.count == 3 && s.refusals.count == 3)
    }
}
