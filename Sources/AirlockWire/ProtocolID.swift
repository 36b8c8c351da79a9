/// Every protocol ID this project negotiates with multistream-select, in one place.
/// IDs must start with `/` and stay far below the 1024-byte multistream message cap (wire.md §1.1).
public enum ProtocolID {
    /// The multistream-select 1.0 header both sides send first (wire.md §1.2).
    public static let multistream = "/multistream/1.0.0"
    /// Noise security handshake (wire.md §2).
    public static let noise = "/noise"
    /// yamux stream multiplexer (wire.md §4).
    public static let yamux = "/yamux/1.0.0"
    /// Circuit Relay v2, client → relay: reserve and connect (wire.md §5.1).
    public static let hop = "/libp2p/circuit/relay/0.2.0/hop"
    /// Circuit Relay v2, relay → target client (wire.md §5.1).
    public static let stop = "/libp2p/circuit/relay/0.2.0/stop"
    /// Identify query (wire.md §7).
    public static let identify = "/ipfs/id/1.0.0"
    /// Identify push; answered with `na` until implemented (wire.md §7).
    public static let identifyPush = "/ipfs/id/push/1.0.0"
    /// Ping: the dialer writes 32 bytes, the listener echoes them (wire.md §7).
    public static let ping = "/ipfs/ping/1.0.0"
    /// airlock data plane: one stream per agent TCP connection, piped to the service (design.md §3).
    public static let airlockTCP = "/airlock/tcp/1.0.0"
    /// airlock exit: a length-prefixed `host:port` request, a status, then raw bytes (design.md §3).
    public static let airlockExit = "/airlock/exit/1.0.0"
    /// airlock exit policy: an exit peer asks its relay whether a source may reach `host:port`
    /// through it, and hears of reloads (`ExitCheck`, `ExitVerdict`).
    public static let airlockExitPolicy = "/airlock/exit/policy/1.0.0"
}
