import AirlockCore
import AirlockCrypto
import AirlockWire

/// Caps and timeouts of a host's connections (the relay widens or narrows them from its config).
public struct HostConfig: Sendable {
    /// Seconds for multistream + Noise + multistream on a new connection.
    public var handshakeTimeout: Double = 10
    /// Seconds for a stream's protocol negotiation (and, for handlers, their first message).
    public var messageTimeout: Double = 10
    /// Streams the remote may hold open on one connection.
    public var maxStreamsPerConnection = 1024
    /// Inbound streams still negotiating on one connection.
    public var maxNegotiatingStreams = 64
    /// Encrypted bytes queued per connection before stream writers are held back.
    public var connectionHighWater = 512 * 1024
    /// Bytes queued for a TCP connection past which we stop reading from it until it drains.
    /// Stream writers stop at `connectionHighWater`, so only a remote that provokes answers
    /// (pings, stream opens) without reading them gets here; without this cap it could grow
    /// our output without bound.
    public var connectionReadHold = 2 * 1024 * 1024
    /// Seconds a connection whose reads are held may go without the remote taking any of our
    /// output before it is closed (the remote is gone or hostile).
    public var stalledOutputTimeout: Double = 10
    /// Seconds a closing connection may take to flush its queued output before it is cut.
    public var closeLinger: Double = 5
    /// Connections in total, and those still in their handshake.
    public var maxConnections = 16384
    public var maxHandshaking = 256
    public init() {}
}

/// A libp2p host: one identity, TCP listeners and dials, connections, protocol handlers, and the
/// built-in identify and ping protocols.
///
/// **Thread:** everything runs on `loop` (create and use the host from the loop's thread).
public final class Host {
    public let loop: EventLoop
    public let identity: Ed25519PrivateKey
    public let peerID: PeerID
    public let logger: Logger
    public var config: HostConfig
    /// Addresses announced in identify and relay reservations.
    public var listenAddrs: [Multiaddr] = []
    public var agentVersion = "airlock/0.1.0"

    public private(set) var connections: [UInt64: Libp2pConnection] = [:]
    private var byPeer: [PeerID: [UInt64]] = [:]
    private var handlers: [String: (Libp2pStream) -> Void] = [:]
    private var listeners: [TCPListener] = []
    private var nextID: UInt64 = 1
    private var handshaking = 0
    /// Counts kept as they happen; live connections' yamux refusals are added by `counters`.
    var stats = HostCounters()

    /// Called for every established connection (inbound, outbound, relayed).
    public var onConnection: ((Libp2pConnection) -> Void)?
    /// Called when an established connection is gone.
    public var onDisconnect: ((Libp2pConnection) -> Void)?
    /// Decides whether a freshly authenticated connection may stay (e.g. an agent listener that
    /// accepts exactly one identity). Refused connections are closed before any stream runs.
    public var admitConnection: ((Libp2pConnection) -> Bool)?

    public init(loop: EventLoop, identity: Ed25519PrivateKey, config: HostConfig = HostConfig(), logger: Logger = .silent) {
        self.loop = loop
        self.identity = identity
        self.peerID = PeerID(publicKey: identity.publicKey)
        self.config = config
        self.logger = logger
        handle(ProtocolID.identify) { [unowned self] s in self.serveIdentify(s) }
        handle(ProtocolID.ping) { s in Host.servePing(s) }
    }

    // MARK: handlers

    /// Serves `protocolID` on inbound streams.
    public func handle(_ protocolID: String, _ handler: @escaping (Libp2pStream) -> Void) {
        handlers[protocolID] = handler
    }

    public func removeHandler(_ protocolID: String) { handlers[protocolID] = nil }

    var supportedProtocols: [String] { Array(handlers.keys) }

    func dispatch(_ s: Libp2pStream) {
        guard let h = handlers[s.protocolID] else { s.reset(); return }
        h(s)
    }

    // MARK: listening and dialling

    /// Listens on `address`; returns the real bound address.
    @discardableResult
    public func listen(on address: SocketAddress, device: String? = nil) throws(Errno) -> SocketAddress {
        let l = try TCPListener(on: address, loop: loop, device: device)
        try adopt(listener: l)
        return l.address
    }

    /// Serves connections accepted by an existing listener (e.g. one made inside a namespace).
    public func adopt(listener l: TCPListener, admit: ((Libp2pConnection) -> Bool)? = nil) throws(Errno) {
        l.onAccept = { socket in self.accepted(socket, admit: admit) }  // cycle broken by shutdown()
        // Listeners closed by their owner (an agent detached) are dropped here, keeping this bounded.
        listeners.removeAll { $0.isClosed }
        listeners.append(l)
    }

    private func accepted(_ socket: Socket, admit: ((Libp2pConnection) -> Bool)?) {
        guard connections.count < config.maxConnections else {
            stats.connectionsRefusedConnectionCap += 1
            logger.warn("connection_refused", ["reason": "connection cap reached"])
            socket.close()
            return
        }
        guard handshaking < config.maxHandshaking else {
            stats.connectionsRefusedHandshakingCap += 1
            logger.warn("connection_refused", ["reason": "handshaking cap reached"])
            socket.close()
            return
        }
        let remote = try? socket.remoteAddress()
        let tcp: TCPConnection
        do { tcp = try TCPConnection(socket: socket, loop: loop) } catch { return }
        let c = Libp2pConnection(id: takeID(), host: self, transport: .tcp(tcp), direction: .inbound,
                                 expectedPeer: nil, remoteAddress: remote)
        c.admit = admit
        begin(c)
    }

    /// Dials `address` over TCP and upgrades. With `expect`, a different remote identity fails.
    public func dial(_ address: SocketAddress, expect: PeerID?, device: String? = nil,
                     _ completion: @escaping (Result<Libp2pConnection, SessionError>) -> Void) {
        let tcp = TCPConnection.connect(to: address, on: loop, device: device)
        let c = Libp2pConnection(id: takeID(), host: self, transport: .tcp(tcp), direction: .outbound,
                                 expectedPeer: expect, remoteAddress: address)
        c.onEstablished = completion
        begin(c)
    }

    /// Upgrades an already-connected TCP socket as the dialer (for example one connected from
    /// inside another network namespace, which the socket keeps). Takes ownership of `socket`;
    /// with `expect`, a different remote identity fails. The completion always comes from the loop.
    public func dial(connected socket: Socket, expect: PeerID?,
                     _ completion: @escaping (Result<Libp2pConnection, SessionError>) -> Void) {
        let remote = try? socket.remoteAddress()
        let tcp: TCPConnection
        do { tcp = try TCPConnection(socket: socket, loop: loop) } catch {
            loop.runSoon { completion(.failure(SessionError(.handshake, "cannot register the socket: \(error)"))) }
            return
        }
        let c = Libp2pConnection(id: takeID(), host: self, transport: .tcp(tcp), direction: .outbound,
                                 expectedPeer: expect, remoteAddress: remote)
        c.onEstablished = completion
        begin(c)
    }

    /// Upgrades a relayed byte pipe (a hop or stop stream after OK) into a connection: the side
    /// that sent CONNECT dials, the side that accepted STOP listens (wire.md §5.5 step 7).
    public func upgrade(stream: Libp2pStream, asDialer: Bool, expect: PeerID?,
                        _ completion: @escaping (Result<Libp2pConnection, SessionError>) -> Void) {
        let c = Libp2pConnection(id: takeID(), host: self, transport: .stream(stream),
                                 direction: asDialer ? .outbound : .inbound, expectedPeer: expect, remoteAddress: nil)
        c.onEstablished = completion
        begin(c)
    }

    private func begin(_ c: Libp2pConnection) {
        connections[c.id] = c
        handshaking += 1
        c.start()
    }

    private func takeID() -> UInt64 { defer { nextID += 1 }; return nextID }

    // MARK: connection bookkeeping

    func admit(_ c: Libp2pConnection) -> Bool {
        handshaking -= 1
        c.countedHandshake = false
        if let a = c.admit, !a(c) { return false }
        if let a = admitConnection, !a(c) { return false }
        return true
    }

    /// A connection that finished its handshake but is refused before admission.
    func admitRefused(_ c: Libp2pConnection) {
        handshaking -= 1
        c.countedHandshake = false
    }

    func connectionEstablished(_ c: Libp2pConnection) {
        byPeer[c.remotePeer, default: []].append(c.id)
        logger.debug("connection_open", ["conn": c.id, "peer": c.remotePeer, "dir": c.direction == .inbound ? "in" : "out", "relayed": c.isRelayed])
        onConnection?(c)
    }

    func connectionClosed(_ c: Libp2pConnection) {
        guard connections.removeValue(forKey: c.id) != nil else { return }
        stats.streamsRefusedStreamCap += c.session.yamux?.inboundStreamsRefusedByCap ?? 0
        if c.countedHandshake { handshaking -= 1; c.countedHandshake = false }
        if c.isEstablished {
            if var ids = byPeer[c.remotePeer] {
                ids.removeAll { $0 == c.id }
                byPeer[c.remotePeer] = ids.isEmpty ? nil : ids
            }
            logger.debug("connection_closed", ["conn": c.id, "peer": c.remotePeer, "reason": c.closeReason ?? "-"])
            onDisconnect?(c)
        }
    }

    /// Established connections to `peer`, oldest first.
    public func connections(to peer: PeerID) -> [Libp2pConnection] {
        (byPeer[peer] ?? []).compactMap { connections[$0] }
    }

    public func connection(id: UInt64) -> Libp2pConnection? { connections[id] }

    /// What the caps and timeouts did so far (a snapshot; walks the live connections).
    public var counters: HostCounters {
        var c = stats
        for conn in connections.values { c.streamsRefusedStreamCap += conn.session.yamux?.inboundStreamsRefusedByCap ?? 0 }
        return c
    }

    /// Closes every listener and connection.
    public func shutdown() {
        for l in listeners { l.onAccept = nil; l.close() }
        listeners.removeAll()
        for c in Array(connections.values) { c.close(reason: "host shutting down") }
    }
}
