#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockWire

/// The Circuit Relay v2 server (wire.md §5): serves `/libp2p/circuit/relay/0.2.0/hop`, grants
/// reservations to the peers the policy lists as services or exits, and splices CONNECTs to them
/// when the policy has a rule from the source (design §2 invariants 4, 5, 9).
///
/// **Thread:** everything runs on the host's loop; create, call and read it there only.
/// **Never dials:** a CONNECT is spliced only onto the connection its target reserved on.
/// **Logs** one line per decision: `reservation`, `reservation_ended`, `circuit_opened`,
/// `circuit_refused`, `circuit_closed`, `hop_refused`, each with its `reason`.
public final class RelayServer {
    public let host: Host
    public let config: RelayConfig
    public internal(set) var policy: Policy
    /// Per-run identities registered by the launcher; consulted by every decision.
    public var bindings = Policy.Bindings()
    /// Per-run `--allow` scopes by the run's identity (`Policy.RunScope`).
    public var runScopes: [PeerID: Policy.RunScope] = [:]
    /// Called with (source, target, reason) for each CONNECT and exit request the policy
    /// refuses, before the refusal is answered: the launcher counts them for `--kill-on-deny`.
    /// The target is its policy name (`web`), or `host:port via exit NAME` for an exit request.
    public var onPolicyRefusal: ((PeerID, String, String) -> Void)?
    /// Called on the loop after a reload was applied and `revoke` ran, with the new policy: for
    /// parts that hold their own grants (an exit's open connections) to re-check them. Returns
    /// how many it closed at once (for `ReloadOutcome.exitsClosed`). Chain, do not replace.
    public var onReload: ((Policy) -> Int)?
    /// The audit trail: one JSON line per decision and circuit close (`AuditLog`); nil for none.
    public var audit: AuditLog?
    /// The most recent refusals (RESERVE and CONNECT), oldest first, at most `maxRecentRefusals`,
    /// for `airlock status`.
    public internal(set) var recentRefusals: [RelayRefusal] = []
    public static let maxRecentRefusals = 64
    let logger: Logger
    let now: () -> Double

    var table: ReservationTable
    /// Counts kept as they happen; live values are added by `counters`.
    var stats = RelayCounters()
    var circuitsByID: [UInt64: Circuit] = [:]
    var nextCircuitID: UInt64 = 1
    /// Closed circuits' bytes (live ones are read from the circuits).
    var closedBytesUp: UInt64 = 0
    var closedBytesDown: UInt64 = 0
    /// Circuits being set up or spliced: in total, per peer (either end), per policy key.
    var circuitTotal = 0
    var circuitsPerPeer: [PeerID: Int] = [:]
    var circuitsPerKey: [String: Int] = [:]
    /// Hop streams in flight per connection id.
    var inFlight: [UInt64: Int] = [:]
    var exchanges: [ObjectIdentifier: HopExchange] = [:]
    private var sweepTimer: TimerID?
    private(set) var running = false

    /// `now` gives Unix seconds (reservation expiry and vouchers); tests pass their own clock.
    public init(host: Host, config: RelayConfig, policy: Policy, logger: Logger,
                now: @escaping () -> Double = RelayServer.unixSeconds) {
        self.host = host
        self.config = config
        self.policy = policy
        self.logger = logger
        self.now = now
        table = ReservationTable(config: config)
    }

    public static func unixSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    // MARK: life cycle

    /// Serves hop, starts the expiry sweep, and follows disconnects (chaining any existing
    /// `host.onDisconnect`).
    public func start() {
        guard !running else { return }
        running = true
        host.handle(ProtocolID.hop) { [weak self] s in
            guard let self else { s.reset(); return }
            self.accept(s)
        }
        let previous = host.onDisconnect
        host.onDisconnect = { [weak self] c in
            previous?(c)
            self?.connectionGone(c)
        }
        scheduleSweep()
    }

    /// Refuses new work, resets circuits and requests in progress, clears every reservation.
    public func stop() {
        guard running else { return }
        running = false
        host.removeHandler(ProtocolID.hop)
        if let t = sweepTimer { host.loop.cancel(t); sweepTimer = nil }
        for x in Array(exchanges.values) { abandon(x, reason: "relay stopped", resetHop: true) }
        for c in Array(circuitsByID.values) { c.close("relay stopped", reset: true) }
        for e in table.entries {
            table.remove(peer: e.peer)
            reservationEnded(e, reason: "stopped")
        }
    }

    // MARK: status

    public var counters: RelayCounters {
        var c = stats
        c.host = host.counters
        c.reservationsLive = table.count
        c.circuitsLive = circuitsByID.count
        c.bytesUp = closedBytesUp
        c.bytesDown = closedBytesDown
        for circuit in circuitsByID.values {
            c.bytesUp += circuit.up.forwarded
            c.bytesDown += circuit.down.forwarded
        }
        return c
    }

    /// Live reservations, by peer.
    public var reservations: [ReservationTable.Entry] {
        table.entries.sorted { $0.peer.bytes.lexicographicallyPrecedes($1.peer.bytes) }
    }

    /// Spliced circuits, oldest first.
    public var circuits: [CircuitInfo] {
        circuitsByID.keys.sorted().compactMap { id in
            guard let c = circuitsByID[id] else { return nil }
            return CircuitInfo(source: c.source, target: c.target, bytesUp: c.up.forwarded,
                               bytesDown: c.down.forwarded, age: c.age, limit: c.limit)
        }
    }

    /// Keeps `r` among the recent refusals, dropping the oldest beyond the cap.
    func noteRefusal(_ r: RelayRefusal) {
        if recentRefusals.count >= RelayServer.maxRecentRefusals { recentRefusals.removeFirst(recentRefusals.count - RelayServer.maxRecentRefusals + 1) }
        recentRefusals.append(r)
    }

    // MARK: reservations

    private func scheduleSweep() {
        let ms = Int64(max(config.sweepInterval, 0.01) * 1000)
        sweepTimer = host.loop.schedule(after: .milliseconds(ms)) { [weak self] in
            guard let self, self.running else { return }
            for e in self.table.sweep(now: self.now()) { self.reservationEnded(e, reason: "expired") }
            self.scheduleSweep()
        }
    }

    private func connectionGone(_ c: Libp2pConnection) {
        inFlight[c.id] = nil
        for e in table.connectionClosed(c.id) { reservationEnded(e, reason: "disconnected") }
    }

    func reservationEnded(_ e: ReservationTable.Entry, reason: String) {
        stats.reservationsEnded[reason, default: 0] += 1
        logger.info("reservation_ended", ["peer": e.peer, "conn": e.connection, "reason": reason])
    }

    /// RESERVE (wire.md §5.4).
    func reserve(_ x: HopExchange) {
        let conn = x.stream.connection
        let peer = conn.remotePeer
        func refuse(_ status: RelayStatus, _ reason: String, _ text: String? = nil) {
            stats.reservationsRefused[reason, default: 0] += 1
            logger.info("reservation", ["peer": peer, "conn": conn.id, "status": status, "reason": reason, "text": text ?? reason])
            let name = policy.entry(for: peer, bindings: bindings)?.name
            noteRefusal(RelayRefusal(time: now(), kind: "reserve", source: peer, sourceName: name, target: nil, targetName: nil,
                                status: status.description, reason: reason))
            let extra: [(String, AuditLog.Value)] = [("status", .string(status.description)), ("text", .string(text ?? reason))]
            audit?.record(event: "reserve", decision: "deny", reason: reason, peer: peer, agent: name, fields: extra)
            answer(x, .status(status))
        }
        guard running else { return refuse(.permissionDenied, "stopped", "the relay is shutting down") }
        guard !conn.isRelayed else { return refuse(.permissionDenied, "relayed", "RESERVE over a relayed connection") }
        let decision = policy.mayReserve(peer: peer, bindings: bindings)
        guard decision.allowed else { return refuse(.permissionDenied, decision.reason.rawValue, decision.text) }
        guard let ip = conn.remoteAddress?.ipString else { return refuse(.reservationRefused, "no-ip", "connection has no IP address") }

        let expire: UInt64
        let refreshed: Bool
        switch table.reserve(peer: peer, connection: conn.id, ip: ip, now: now()) {
        case .granted(let e, let r): expire = e; refreshed = r
        case .refusedIPCap: return refuse(.reservationRefused, "ip-cap", "\(config.maxReservationsPerIP) reservations from \(ip)")
        case .refusedTotalCap: return refuse(.reservationRefused, "total-cap", "\(config.maxReservations) reservations in total")
        case .rateLimited: return refuse(.resourceLimitExceeded, "rate-limited", "RESERVE too often; the existing reservation stays")
        }
        stats.reservationsGranted += 1
        let voucher = Voucher(relay: host.peerID, peer: peer, expiration: expire).sealed(by: host.identity)
        let reservation = Reservation(expire: expire, addrs: reservationAddrs(), voucher: voucher)
        logger.info("reservation", ["peer": peer, "conn": conn.id, "status": RelayStatus.ok, "reason": decision.reason.rawValue,
                                    "expire": expire, "refreshed": refreshed])
        let extra: [(String, AuditLog.Value)] = [("status", .string(RelayStatus.ok.description)), ("expire", .uint(expire)),
                                                 ("refreshed", .bool(refreshed))]
        audit?.record(event: "reserve", decision: "allow", reason: decision.reason.rawValue, peer: peer, agent: decision.source, fields: extra)
        answer(x, .status(.ok, reservation: reservation, limit: RelayServer.limit(decision.limits)))
    }

    /// The host's listen addresses, each ending in exactly one `/p2p/<relay>`, circuits left out
    /// (wire.md §5.3 Reservation.addrs).
    func reservationAddrs() -> [Multiaddr] {
        host.listenAddrs.filter { !$0.isCircuit }.map { $0.withoutTrailingPeerID.appending(.p2p(host.peerID)) }
    }

    /// The Circuit v2 Limit for policy limits; nil (no Limit sent) unless the policy sets one.
    static func limit(_ l: Policy.Limits) -> Limit? {
        guard l.circuitSeconds != nil || l.circuitBytes != nil else { return nil }
        return Limit(duration: l.circuitSeconds ?? 0, data: l.circuitBytes ?? 0)
    }
}
