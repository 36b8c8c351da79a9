import Testing
import AirlockIO
@testable import AirlockRelay

/// The counters' names are an interface (metrics, `airlock status --json`, Relay/README.md):
/// renaming one breaks whoever reads them.
@Suite struct RelayCountersTests {
    @Test func namesAreStableSnakeCase() {
        var k = RelayCounters()
        k.reservationsRefused = ["ip-cap": 2, "no-rule": 1]
        k.circuitsRefused = ["RESOURCE_LIMIT_EXCEEDED": 3]
        k.circuitsRefusedTotalCap = 3
        k.host.handshakeTimeouts = 4
        let names = k.named.map(\.name)
        #expect(names == [
            "reservations_live", "reservations_granted",
            "reservations_refused.ip-cap", "reservations_refused.no-rule",
            "circuits_live", "circuits_opened", "circuits_refused.RESOURCE_LIMIT_EXCEEDED",
            "circuits_refused_total_cap", "circuits_refused_peer_cap", "circuits_refused_policy_cap",
            "circuits_closed", "bytes_up", "bytes_down",
            "hop_streams_refused_in_flight", "message_timeouts", "stop_answer_timeouts",
            "handshake_timeouts", "handshakes_failed", "sessions_failed",
            "connections_refused_connection_cap", "connections_refused_handshaking_cap",
            "streams_refused_stream_cap", "streams_refused_negotiating_cap",
            "negotiation_timeouts", "stalled_output_closes",
        ])
        let values = Dictionary(uniqueKeysWithValues: k.named.map { ($0.name, $0.value) })
        #expect(values["reservations_refused.ip-cap"] == 2)
        #expect(values["circuits_refused_total_cap"] == 3)
        #expect(values["handshake_timeouts"] == 4)
        #expect(names.allSatisfy { n in n.split(separator: ".")[0].allSatisfy { $0.isLowercase || $0 == "_" } })
    }
}
