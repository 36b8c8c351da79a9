import AirlockCore
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

    public init() {}
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
