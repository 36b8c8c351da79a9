import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockWire

/// An exit (design §2 invariant 6, §3): serves `/airlock/exit/1.0.0`, so an agent reaches an
/// outside `host:port` through it, and only what the policy grants that agent.
///
/// For each request, in this order and never otherwise:
/// 1. the host is normalised (`NormalisedHost`: case, trailing dot, IDNA, odd IPv4 literals such
///    as `127.1` or `0x7f.1`, IPv4-mapped IPv6), so no spelling dodges a rule;
/// 2. the policy is asked (`check`) whether the source may reach that host and port — **before**
///    any lookup, so a name the agent may not reach is never even resolved;
/// 3. a name is resolved by the exit itself (`resolver`: the hosts map, then system DNS);
/// 4. each address is held against `AddressBlocklist` (loopback, private, link-local, metadata,
///    …); a blocked address is used only when a rule names it explicitly (asked again, with the
///    address as host: address patterns match only addresses);
/// 5. the exit connects to exactly an address it checked (no second lookup), answers `OK` with
///    it, and bridges the stream and the TCP connection (`TCPBridge`).
/// Any refusal is answered with its status and stable reason, then the stream is closed.
///
/// `check` is the relay's own policy for the relay's built-in exit (`airlock relay --exit`) and
/// a question to the relay for an exit peer (`airlock exit`, `ExitPolicyClient`). After a reload
/// `recheck()` asks again for every open connection and cuts those no longer allowed.
///
/// Every request ends in one audit line (`exit`: allow or deny, reason, peer, agent, target,
/// address) and every bridged connection in another when it closes (`exit_closed`: bytes each
/// way and seconds).
///
/// **Thread:** the host's loop only.
public final class ExitService {
    /// Asks whether `source` may reach `host:port` through this exit, and why it asks; answers
    /// on the loop. Asking never counts as a refusal: the exit reports those (`onRefusal`).
    public typealias Check = (_ source: PeerID, _ host: NormalisedHost, _ port: UInt16, _ purpose: ExitCheck.Purpose,
                              _ completion: @escaping (ExitVerdict) -> Void) -> Void

    public struct Settings: Sendable {
        /// Seconds a stream has to send its request.
        public var requestTimeout: Double = 10
        /// Seconds a lookup may take.
        public var resolveTimeout: Double = 10
        /// Seconds a connection to the destination may take (per address tried).
        public var connectTimeout: Double = 10
        /// Requests being decided, resolved or connected at once; more are answered UNAVAILABLE.
        public var maxPending = 512
        /// Bridged connections at once; more are answered UNAVAILABLE.
        public var maxOpen = 16384
        /// Whether requests are taken on relayed connections (an exit peer: yes, its clients come
        /// through circuits) or on direct ones (the relay's built-in exit: its agents' links).
        public var relayedOnly = true
        /// When set, an address it refuses is never dialled (answered CONNECT_FAILED
        /// `outside-dial-guard`). The exit's own checks come first; this is a second fence for
        /// places that must never send a packet off the machine, such as tests of those checks.
        public var dialGuard: (@Sendable (IPAddress) -> Bool)?
        public init() {}
    }

    /// Counts of what this exit did, by outcome (logged as one `exit_counters` line on SIGUSR1
    /// and at stop, next to the relay's).
    public struct Counters: Sendable, Equatable {
        public var requests = 0
        public var connected = 0
        public var refused: [String: Int] = [:]
        /// Bytes of closed connections, to the destinations and back.
        public var bytesOut: UInt64 = 0
        public var bytesIn: UInt64 = 0

        /// `requests=3 connected=2 bytes_out=… refused.no-destination=1`, for the log.
        public var line: String {
            var parts = ["requests=\(requests)", "connected=\(connected)", "bytes_out=\(bytesOut)", "bytes_in=\(bytesIn)"]
            parts += refused.keys.sorted().map { "refused.\($0)=\(refused[$0]!)" }
            return parts.joined(separator: " ")
        }
    }

    /// One bridged connection.
    public struct OpenConnection: Sendable {
        public let source: PeerID
        public let agent: String?
        public let host: NormalisedHost
        public let port: UInt16
        public let address: IPAddress
        /// Whether the address is on the blocklist (and allowed because a rule names it).
        public let blocked: Bool
        public let opened: MonotonicTime
    }

    public let host: Host
    /// The exit's name in the policy, for logs.
    public var name: String
    public let resolver: any NameResolver
    public let settings: Settings
    let check: Check
    let logger: Logger
    public var audit: AuditLog?
    /// Called once for each request refused by policy (`DENIED`) or by the blocklist
    /// (`BLOCKED`), with the source, its policy name, the target and the answer: the relay
    /// counts them (`--kill-on-deny`, `airlock status`).
    public var onRefusal: ((_ source: PeerID, _ agent: String?, _ target: String, _ response: ExitResponse) -> Void)?

    public private(set) var counters = Counters()
    public private(set) var pending = 0
    var open: [ObjectIdentifier: (info: OpenConnection, bridge: TCPBridge)] = [:]
    private var running = false

    public init(host: Host, name: String, resolver: any NameResolver, settings: Settings = Settings(), logger: Logger, check: @escaping Check) {
        self.host = host
        self.name = name
        self.resolver = resolver
        self.settings = settings
        self.logger = logger
        self.check = check
    }

    /// What is bridged now, oldest first.
    public var connections: [OpenConnection] { open.values.map(\.info).sorted { $0.opened < $1.opened } }

    /// One open connection with the bytes it moved so far: to the destination (`bytesOut`)
    /// and back (`bytesIn`).
    public struct ConnectionStatus: Sendable {
        public let info: OpenConnection
        public let bytesOut: UInt64
        public let bytesIn: UInt64
    }

    /// `connections` with their bytes, for `airlock status`.
    public var status: [ConnectionStatus] {
        open.values.sorted { $0.info.opened < $1.info.opened }.map {
            ConnectionStatus(info: $0.info, bytesOut: $0.bridge.bytesToTCP, bytesIn: $0.bridge.bytesToStream)
        }
    }

    /// Serves `/airlock/exit/1.0.0` on the host. Call once, on the loop.
    public func start() {
        guard !running else { return }
        running = true
        host.handle(ProtocolID.airlockExit) { [weak self] s in
            guard let self, self.running else { s.reset(); return }
            self.accept(s)
        }
    }

    /// Stops taking requests and cuts every bridged connection.
    public func stop() {
        guard running else { return }
        running = false
        host.removeHandler(ProtocolID.airlockExit)
        for (_, o) in open { o.bridge.stream.reset() }
    }

    private func accept(_ s: Libp2pStream) {
        counters.requests += 1
        guard s.connection.isRelayed == settings.relayedOnly else {
            let why = settings.relayedOnly ? "exit requests come through circuits" : "exit requests come on direct connections"
            logger.warn("exit_stream_refused", ["exit": name, "peer": s.remotePeer, "reason": "wrong-connection", "text": why])
            s.reset()
            return
        }
        guard pending < settings.maxPending, open.count < settings.maxOpen else {
            let text = "\(pending) requests pending, \(open.count) connections open"
            refuse(s, ExitResponse(status: .unavailable, reason: "overloaded", text: text), target: "-", agent: nil)
            return
        }
        pending += 1
        ExitExchange(service: self, stream: s).start()
    }

    // MARK: for exchanges

    func requestEnded() { pending -= 1 }

    /// Answers a refusal, counts and logs it, and closes the stream (reset after a grace period
    /// if the other side does not close its half).
    func refuse(_ s: Libp2pStream, _ response: ExitResponse, target: String, agent: String?) {
        counters.refused[response.reason.isEmpty ? response.status.description : response.reason, default: 0] += 1
        logger.info("exit_refused", ["exit": name, "peer": s.remotePeer, "target": target, "status": response.status,
                                     "reason": response.reason, "text": response.text])
        var extra: [(String, AuditLog.Value)] = [("exit", .string(name)), ("status", .string(response.status.description)),
                                                 ("text", .string(response.text))]
        if let a = response.address { extra.append(("address", .string(a.description))) }
        audit?.record(event: "exit", decision: "deny", reason: response.reason, peer: s.remotePeer.description, target: target,
                      agent: agent, fields: extra)
        if response.status == .denied || response.status == .blocked { onRefusal?(s.remotePeer, agent, target, response) }
        s.send(response.framed())
        s.closeWrite()
        let loop = host.loop
        loop.schedule(after: .seconds(5)) { [weak s] in s?.reset() }
    }

    /// The request passed: answer OK and bridge.
    func connected(_ s: Libp2pStream, _ tcp: TCPConnection, info: OpenConnection, reason: String) {
        counters.connected += 1
        let target = "\(info.host):\(info.port)"
        logger.info("exit_connected", ["exit": name, "peer": info.source, "agent": info.agent ?? "-", "target": target,
                                       "address": info.address, "reason": reason])
        audit?.record(event: "exit", decision: "allow", reason: reason, peer: info.source.description, target: target,
                      agent: info.agent, fields: [("exit", .string(name)), ("address", .string(info.address.description))])
        s.send(ExitResponse(status: .ok, reason: reason, address: info.address).framed())
        let bridge = TCPBridge(tcp: tcp, stream: s)
        let key = ObjectIdentifier(bridge)
        open[key] = (info, bridge)
        bridge.onFinish = { [weak self] b in self?.closed(key, b) }
        bridge.start()
    }

    private func closed(_ key: ObjectIdentifier, _ b: TCPBridge) {
        guard let o = open.removeValue(forKey: key) else { return }
        counters.bytesOut += b.bytesToTCP
        counters.bytesIn += b.bytesToStream
        let seconds = Double(o.info.opened.nanoseconds(until: .now())) / 1e9
        let target = "\(o.info.host):\(o.info.port)"
        let outcome = ServicePeer.describe(b.outcome)
        logger.info("exit_closed", ["exit": name, "peer": o.info.source, "target": target, "bytes_out": b.bytesToTCP,
                                    "bytes_in": b.bytesToStream, "seconds": seconds, "outcome": outcome])
        audit?.record(event: "exit_closed", decision: nil, reason: outcome, peer: o.info.source.description, target: target,
                      agent: o.info.agent, fields: [("exit", .string(name)), ("address", .string(o.info.address.description)),
                                                    ("bytes_out", .uint(b.bytesToTCP)), ("bytes_in", .uint(b.bytesToStream)),
                                                    ("seconds", .double(seconds))])
    }

    // MARK: reload

    /// Asks again for every bridged connection (after the policy changed) and resets those the
    /// new policy does not allow: the name and port, and for a blocked address that a rule still
    /// names it. Returns at once; the cuts follow as the answers come (at once for the relay's
    /// own exit).
    /// Returns how many it cut before returning (all of them, when `check` answers at once, as
    /// the relay's own exit does).
    @discardableResult
    public func recheck() -> Int {
        var cut = 0
        for (key, o) in open {
            let info = o.info
            check(info.source, info.host, info.port, .recheck) { [weak self] v in
                guard let self, self.open[key] != nil else { return }
                guard v.allowed else { cut += 1; return self.revoke(key, v.reason) }
                guard info.blocked, case .name = info.host else { return }
                self.check(info.source, .address(info.address), info.port, .recheck) { [weak self] v in
                    guard let self, self.open[key] != nil, !v.allowed else { return }
                    cut += 1
                    self.revoke(key, "blocked-address")
                }
            }
        }
        return cut
    }

    private func revoke(_ key: ObjectIdentifier, _ reason: String) {
        guard let o = open[key] else { return }
        let target = "\(o.info.host):\(o.info.port)"
        logger.info("exit_revoked", ["exit": name, "peer": o.info.source, "target": target, "reason": reason])
        audit?.record(event: "revoke", decision: "deny", reason: reason, peer: o.info.source.description, target: target,
                      agent: o.info.agent, fields: [("what", .string("exit")), ("exit", .string(name))])
        o.bridge.stream.reset()
    }
}
