import AirlockCore
import AirlockPolicy

/// The fields of a relay config file (version 1), and the readers of single values.
extension RelayConfigDecoder {
    typealias Field = JSONSchemaReader.Field

    static let topFields = [Field(name: "version", required: false, expected: "1"),
                            Field(name: "listen", required: true, expected: "an array of \"host:port\" strings such as \"127.0.0.1:4001\""),
                            Field(name: "key", required: true, expected: "the path of the relay's key file"),
                            Field(name: "policy", required: true, expected: "the path of the policy file"),
                            Field(name: "hub", required: false, expected: "an object"),
                            Field(name: "exit", required: false, expected: "an object"),
                            Field(name: "control_socket", required: false, expected: "a path"),
                            Field(name: "log_level", required: false, expected: "\"debug\", \"info\", \"warn\" or \"error\""),
                            Field(name: "audit_log", required: false, expected: "a path or null"),
                            Field(name: "limits", required: false, expected: "an object")]
    static let hubFields = [Field(name: "namespace_prefix", required: false, expected: "a prefix"),
                            Field(name: "enabled", required: false, expected: "true or false")]
    static let exitFields = [Field(name: "enabled", required: false, expected: "true or false"),
                             Field(name: "hosts", required: false, expected: "a path or null"),
                             Field(name: "system_dns", required: false, expected: "true or false")]

    /// One member of `RelayConfig` as written in the file's `limits` object.
    struct Limit: Sendable {
        enum Kind: Sendable {
            case integer(WritableKeyPath<RelayConfig, Int> & Sendable, ClosedRange<Int>)
            case decimal(WritableKeyPath<RelayConfig, Double> & Sendable, ClosedRange<Double>)
        }
        let name: String
        /// What is counted, for "expected a whole number of …".
        let unit: String
        let kind: Kind
    }

    /// Every member of `RelayConfig`, in its order. Minima keep the relay working at all; maxima
    /// are far above any real load (a million of anything is what LimitNOFILE allows), so a value
    /// outside them is a typo rather than a choice. Documented in Relay/README.md.
    static let limits: [Limit] = [
        Limit(name: "reservation_ttl_seconds", unit: "seconds", kind: .integer(\.reservationTTL, 1...604_800)),
        Limit(name: "max_reservations", unit: "reservations", kind: .integer(\.maxReservations, 1...1_048_576)),
        Limit(name: "max_reservations_per_ip", unit: "reservations", kind: .integer(\.maxReservationsPerIP, 1...1_048_576)),
        Limit(name: "reserve_burst", unit: "requests", kind: .integer(\.reserveBurst, 1...1_000)),
        Limit(name: "reserve_refill_per_second", unit: "requests per second", kind: .decimal(\.reserveRefillPerSecond, 0.001...1_000)),
        Limit(name: "max_circuits", unit: "circuits", kind: .integer(\.maxCircuits, 1...1_048_576)),
        Limit(name: "max_circuits_per_peer", unit: "circuits", kind: .integer(\.maxCircuitsPerPeer, 1...1_048_576)),
        Limit(name: "max_hop_in_flight_per_connection", unit: "hop streams", kind: .integer(\.maxHopInFlightPerConnection, 1...1_024)),
        Limit(name: "max_connections", unit: "connections", kind: .integer(\.maxConnections, 1...1_048_576)),
        Limit(name: "max_handshaking_connections", unit: "connections", kind: .integer(\.maxHandshakingConnections, 1...65_536)),
        Limit(name: "handshake_timeout_seconds", unit: "seconds", kind: .decimal(\.handshakeTimeout, 0.1...300)),
        Limit(name: "message_timeout_seconds", unit: "seconds", kind: .decimal(\.messageTimeout, 0.1...300)),
        Limit(name: "stop_answer_timeout_seconds", unit: "seconds", kind: .decimal(\.stopAnswerTimeout, 0.1...300)),
        Limit(name: "max_streams_per_connection", unit: "streams", kind: .integer(\.maxStreamsPerConnection, 1...65_536)),
    ]

    // MARK: pieces

    /// A non-negative number in `range`, written with digits and at most one '.', no exponent.
    mutating func decimal(_ node: JSONNode, _ path: String, expected: String, range: ClosedRange<Double>) -> Double? {
        let bounds = "from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
        guard case .number(let text) = node.value, text.utf8.count <= 32,
              text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") }), let d = Double(text) else {
            report(node.position, path, "expected \(expected) \(bounds), got \(node.summary)")
            return nil
        }
        guard range.contains(d) else {
            report(node.position, path, "\(text) is out of range; expected \(expected) \(bounds)")
            return nil
        }
        return d
    }

    /// `300` rather than `300.0`; fractions as Swift prints them (`0.1`).
    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
    }
}
