/// Every cap and timeout of the relay in one place, with documented defaults (design §2 invariant 9).
/// The defaults suit a relay that carries all of a host's agent traffic: no per-circuit limit unless
/// policy sets one, generous circuit counts, tight caps on what an unauthenticated peer can hold.
public struct RelayConfig: Sendable, Equatable {
    /// How long a reservation lasts unless refreshed (seconds). Clients refresh before expiry.
    public var reservationTTL: Int = 3600
    /// Reservations held in total.
    public var maxReservations: Int = 1024
    /// Reservations per source IP address (many keys from one IP cannot fill the table).
    public var maxReservationsPerIP: Int = 64
    /// RESERVE requests a peer may make in a burst, and the rate they come back (per second).
    /// py-libp2p refreshes in a tight loop on short reservations; over the rate the relay answers
    /// RESOURCE_LIMIT_EXCEEDED and keeps the existing reservation.
    public var reserveBurst: Int = 8
    public var reserveRefillPerSecond: Double = 1
    /// Circuits in total, and per peer (as source or as target).
    public var maxCircuits: Int = 16384
    public var maxCircuitsPerPeer: Int = 1024
    /// Hop streams being processed at once on one connection (a flood is cut to this).
    public var maxHopInFlightPerConnection: Int = 16
    /// Connections held at once, and connections still in their handshake.
    public var maxConnections: Int = 16384
    public var maxHandshakingConnections: Int = 256
    /// Seconds to complete multistream + Noise + multistream on a new connection.
    public var handshakeTimeout: Double = 10
    /// Seconds for the first hop or stop message on a new stream.
    public var messageTimeout: Double = 10
    /// Seconds to wait for the target's STOP answer.
    public var stopAnswerTimeout: Double = 10
    /// Seconds between sweeps that drop expired reservations (go sweeps every minute, wire.md §5.6).
    public var sweepInterval: Double = 60
    /// Seconds an answered, non-spliced hop stream may linger before it is reset (peers that keep
    /// writing on it, or never close it, cannot hold it forever).
    public var answeredStreamLinger: Double = 10
    /// Streams the remote may hold open on one connection (yamux inbound cap).
    public var maxStreamsPerConnection: Int = 1024

    public init() {}
}
