import AirlockCore
import AirlockIO
import AirlockWire

/// A snapshot of what the relay has done since `start()`, for metrics and `airlock status`
/// (design §2 invariant 9: every cap is visible). Plain values; reading it copies.
public struct RelayCounters: Sendable, Equatable {
    /// Reservations held now (always equal to `RelayServer.reservations.count`).
    public var reservationsLive = 0
    /// RESERVE requests granted (a refresh counts again).
    public var reservationsGranted = 0
    /// RESERVE requests refused, by reason (`relayed`, `unknown-peer`, `not-a-service`, `ip-cap`,
    /// `total-cap`, `rate-limited`, `no-ip`, `stopped`).
    public var reservationsRefused: [String: Int] = [:]
    /// Reservations that ended, by reason (`expired`, `disconnected`, `stopped`).
    public var reservationsEnded: [String: Int] = [:]

    /// Circuits spliced now.
    public var circuitsLive = 0
    /// Circuits that reached the splice.
    public var circuitsOpened = 0
    /// CONNECT requests refused, by the status sent (`NO_RESERVATION`, `PERMISSION_DENIED`, …).
    public var circuitsRefused: [String: Int] = [:]
    /// CONNECTs refused with RESOURCE_LIMIT_EXCEEDED, by the cap that was full: `maxCircuits`
    /// (in total), `maxCircuitsPerPeer` (the source or the target), or a policy `max_circuits`
    /// (the agent's or the rule's).
    public var circuitsRefusedTotalCap = 0
    public var circuitsRefusedPeerCap = 0
    public var circuitsRefusedPolicyCap = 0
    /// Circuits that ended after the splice.
    public var circuitsClosed = 0

    /// Payload bytes forwarded source → target (`up`) and target → source (`down`), over all
    /// circuits, live ones included.
    public var bytesUp: UInt64 = 0
    public var bytesDown: UInt64 = 0

    /// Hop streams reset at once because their connection had `maxHopInFlightPerConnection` in flight.
    public var hopStreamsRefusedInFlight = 0
    /// Hop streams reset because no first message came within `messageTimeout`.
    public var messageTimeouts = 0
    /// CONNECTs failed because the target did not answer STOP within `stopAnswerTimeout`.
    public var stopAnswerTimeouts = 0

    /// Exit requests refused, by reason: by policy (`no-destination`, …) at the relay's own exit
    /// and for exit peers, and by the blocklist (`loopback`, `private`, …) at the relay's own exit.
    public var exitsRefused: [String: Int] = [:]

    /// The relay host's connection caps and timeouts (handshakes, connection and stream caps).
    public var host = HostCounters()

    public init() {}

    /// Every counter under its stable snake_case name, in a fixed order; counts by reason or
    /// status appear once per key seen, as `name.key` (`reservations_refused.ip-cap`).
    public var named: [(name: String, value: UInt64)] {
        func byKey(_ name: String, _ d: [String: Int]) -> [(name: String, value: UInt64)] {
            d.keys.sorted().map { ("\(name).\($0)", UInt64(d[$0]!)) }
        }
        var out: [(name: String, value: UInt64)] = [
            ("reservations_live", UInt64(reservationsLive)),
            ("reservations_granted", UInt64(reservationsGranted)),
        ]
        out += byKey("reservations_refused", reservationsRefused)
        out += byKey("reservations_ended", reservationsEnded)
        out += [("circuits_live", UInt64(circuitsLive)), ("circuits_opened", UInt64(circuitsOpened))]
        out += byKey("circuits_refused", circuitsRefused)
        out += [
            ("circuits_refused_total_cap", UInt64(circuitsRefusedTotalCap)),
            ("circuits_refused_peer_cap", UInt64(circuitsRefusedPeerCap)),
            ("circuits_refused_policy_cap", UInt64(circuitsRefusedPolicyCap)),
            ("circuits_closed", UInt64(circuitsClosed)),
            ("bytes_up", bytesUp),
            ("bytes_down", bytesDown),
            ("hop_streams_refused_in_flight", UInt64(hopStreamsRefusedInFlight)),
            ("message_timeouts", UInt64(messageTimeouts)),
            ("stop_answer_timeouts", UInt64(stopAnswerTimeouts)),
        ]
        out += byKey("exits_refused", exitsRefused)
        out += host.named.map { ($0.name, UInt64($0.value)) }
        return out
    }
}

/// One live circuit, for `airlock status`.
public struct CircuitInfo: Sendable, Equatable {
    /// The peer that sent CONNECT, and the target that accepted STOP.
    public let source: PeerID
    public let target: PeerID
    /// Payload bytes forwarded source → target, and target → source.
    public let bytesUp: UInt64
    public let bytesDown: UInt64
    /// Seconds since the splice began.
    public let age: Double
    /// The Circuit v2 limit it runs under; nil when unlimited.
    public let limit: Limit?
}

/// One refused RESERVE, CONNECT or exit request, for `airlock status` (`RelayServer.recentRefusals`).
public struct RelayRefusal: Sendable, Equatable {
    /// Unix seconds.
    public let time: Double
    /// `reserve`, `connect` or `exit` (then `targetName` is the `host:port` asked for).
    public let kind: String
    public let source: PeerID
    /// The source's policy name, when it has one.
    public let sourceName: String?
    public let target: PeerID?
    public let targetName: String?
    /// The Circuit v2 status answered, and the stable reason.
    public let status: String
    public let reason: String
}
