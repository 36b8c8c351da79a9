import AirlockCore

/// The relay's reservations (Circuit Relay v2 RESERVE), with the caps of `RelayConfig`:
/// one per peer (a new one replaces the old, so a refresh never counts twice), a cap per source IP
/// and in total. A reservation lives until it expires or its connection closes.
///
/// Pure bookkeeping: time and connection identities come in as values, so tests drive it directly.
/// Counts are derived from the table itself, so the live count always equals the live reservations.
public struct ReservationTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public let peer: PeerID
        /// The connection the reservation was made on; CONNECT opens STOP streams only there.
        public let connection: UInt64
        public let ip: String
        /// Absolute Unix seconds.
        public let expire: UInt64
    }

    public enum Outcome: Sendable, Equatable {
        case granted(expire: UInt64, refreshed: Bool)
        case refusedIPCap
        case refusedTotalCap
        case rateLimited
    }

    private var byPeer: [PeerID: Entry] = [:]
    private var perIP: [String: Int] = [:]
    private var buckets: [PeerID: TokenBucket] = [:]
    private let config: RelayConfig

    public init(config: RelayConfig) { self.config = config }

    public var count: Int { byPeer.count }
    public func count(ip: String) -> Int { perIP[ip] ?? 0 }
    public var entries: [Entry] { Array(byPeer.values) }

    /// Grants or refreshes `peer`'s reservation on `connection`. `now` is Unix seconds.
    public mutating func reserve(peer: PeerID, connection: UInt64, ip: String, now: Double) -> Outcome {
        var bucket = buckets[peer] ?? TokenBucket(burst: config.reserveBurst, rate: config.reserveRefillPerSecond, now: now)
        let allowed = bucket.take(now: now)
        buckets[peer] = bucket
        guard allowed else { return .rateLimited }

        let old = byPeer[peer]
        if let old { remove(old) }
        if count(ip: ip) >= config.maxReservationsPerIP {
            if let old { insert(old) }
            return .refusedIPCap
        }
        if byPeer.count >= config.maxReservations {
            if let old { insert(old) }
            return .refusedTotalCap
        }
        let expire = UInt64(now) + UInt64(config.reservationTTL)
        insert(Entry(peer: peer, connection: connection, ip: ip, expire: expire))
        return .granted(expire: expire, refreshed: old != nil)
    }

    /// The live reservation of `peer`, if any.
    public func lookup(_ peer: PeerID, now: Double) -> Entry? {
        guard let e = byPeer[peer], Double(e.expire) > now else { return nil }
        return e
    }

    /// Drops every reservation made on `connection`; returns them.
    public mutating func connectionClosed(_ connection: UInt64) -> [Entry] {
        let gone = byPeer.values.filter { $0.connection == connection }
        for e in gone { remove(e) }
        return gone
    }

    /// Drops a specific peer's reservation (policy narrowed, peer disconnected).
    @discardableResult
    public mutating func remove(peer: PeerID) -> Entry? {
        guard let e = byPeer[peer] else { return nil }
        remove(e)
        return e
    }

    /// Drops expired reservations and idle rate-limit state; returns the expired entries.
    public mutating func sweep(now: Double) -> [Entry] {
        let gone = byPeer.values.filter { Double($0.expire) <= now }
        for e in gone { remove(e) }
        // A bucket that would be full again carries no information: forget it so the map stays bounded.
        let refillTime = Double(config.reserveBurst) / max(config.reserveRefillPerSecond, 0.001)
        buckets = buckets.filter { peer, bucket in
            byPeer[peer] != nil || now - bucket.lastUpdate < refillTime
        }
        return gone
    }

    private mutating func insert(_ e: Entry) {
        byPeer[e.peer] = e
        perIP[e.ip, default: 0] += 1
    }

    private mutating func remove(_ e: Entry) {
        byPeer[e.peer] = nil
        let n = (perIP[e.ip] ?? 1) - 1
        perIP[e.ip] = n > 0 ? n : nil
    }
}
