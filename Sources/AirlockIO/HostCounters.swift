/// What a host's caps and timeouts have done since it was created (design §2 invariant 9: every
/// cap and timeout is visible). Plain values; reading `Host.counters` copies.
///
/// Each field is bumped on the loop thread where the cap or timeout acts, never on the
/// forwarding path.
public struct HostCounters: Sendable, Equatable {
    /// Connections closed because multistream, Noise and multistream did not finish within
    /// `HostConfig.handshakeTimeout`.
    public var handshakeTimeouts = 0
    /// Connections whose handshake was refused: not multistream, no `/noise`, a Noise message
    /// that does not decrypt or is out of bounds, an identity signature that does not verify, a
    /// dialled peer proving another identity.
    public var handshakesFailed = 0
    /// Established connections ended by a protocol error: a transport frame that does not
    /// decrypt, a yamux violation.
    public var sessionsFailed = 0
    /// Accepted sockets closed at once because `HostConfig.maxConnections` were held.
    public var connectionsRefusedConnectionCap = 0
    /// Accepted sockets closed at once because `HostConfig.maxHandshaking` were in their handshake.
    public var connectionsRefusedHandshakingCap = 0
    /// Inbound yamux streams reset because their connection held `maxStreamsPerConnection`.
    public var streamsRefusedStreamCap = 0
    /// Inbound streams reset because their connection had `maxNegotiatingStreams` negotiating.
    public var streamsRefusedNegotiatingCap = 0
    /// Streams reset because their protocol negotiation did not finish within `messageTimeout`.
    public var negotiationTimeouts = 0
    /// Connections closed because their reads were held and the remote took none of our output
    /// for `stalledOutputTimeout`.
    public var stalledOutputCloses = 0

    public init() {}

    /// Every counter under its stable snake_case name, in a fixed order.
    public var named: [(name: String, value: Int)] {
        [("handshake_timeouts", handshakeTimeouts),
         ("handshakes_failed", handshakesFailed),
         ("sessions_failed", sessionsFailed),
         ("connections_refused_connection_cap", connectionsRefusedConnectionCap),
         ("connections_refused_handshaking_cap", connectionsRefusedHandshakingCap),
         ("streams_refused_stream_cap", streamsRefusedStreamCap),
         ("streams_refused_negotiating_cap", streamsRefusedNegotiatingCap),
         ("negotiation_timeouts", negotiationTimeouts),
         ("stalled_output_closes", stalledOutputCloses)]
    }
}
