import AirlockCore
import AirlockIO
import AirlockRelay
import AirlockWire

/// The agent-side shim (design.md §4): inside the agent's namespace, the only thing that can
/// reach out, and only through the relay.
///
/// It serves a SOCKS5 proxy and an HTTP proxy on loopback, plus fixed port forwards. For each
/// accepted connection it runs the proxy handshake (`ShimClient`), resolves the target and
/// bridges the connection to one `/airlock/tcp/1.0.0` stream on the relayed connection to the
/// service (`ShimServiceLink`: one circuit per service, reused). A target that names no service
/// goes, as text, to the agent's exits (`Shim+Exit.swift`); with none it is refused as
/// `unknown-service`. Names are never resolved here.
///
/// It also serves the DNS stub (`DNSStubServer`) on 127.0.0.1:53, so a resolver fails at once
/// instead of after its timeout.
///
/// The relay connection (`ShimRelayLink`) is re-dialled with back-off when it drops; meanwhile
/// the proxies answer 502 and the agent keeps running.
///
/// **Thread:** the host's loop only; create, start and stop it there.
public final class Shim {
    public let host: Host
    public let config: ShimConfig
    public let relayLink: ShimRelayLink
    let relayClient: RelayClient
    let logger: Logger
    /// The relayed connection per service name.
    public let links: [String: ShimServiceLink]
    /// The relayed connection per exit peer's name (the relay's own exit needs none: its
    /// streams go on the relay connection itself).
    public let exitLinks: [String: ShimServiceLink]

    /// The bound listen addresses (with the real ports when port 0 was asked for), once started.
    public private(set) var socksAddress: SocketAddress?
    public private(set) var httpAddress: SocketAddress?
    public private(set) var forwardAddresses: [ShimConfig.Forward] = []
    /// The DNS stub, once started (when `config.dns` asks for one).
    public private(set) var dns: DNSStubServer?

    /// Agent connections being handled now.
    public private(set) var activeClients = 0
    /// Connections accepted in total, and refusals by reason token.
    public private(set) var clientsAccepted = 0
    public private(set) var refusals: [String: Int] = [:]

    private var listeners: [TCPListener] = []
    private var running = false

    public var services: [String: PeerID] { config.services }
    var handshakeTimeout: Duration { .milliseconds(Int64(config.handshakeTimeout * 1000)) }

    public init(host: Host, config: ShimConfig, logger: Logger) {
        self.host = host
        self.config = config
        self.logger = logger
        relayLink = ShimRelayLink(host: host, relay: config.relay, relayPeer: config.relayPeer, logger: logger)
        // Never started: used only for CONNECT through the link's connection (no reservation).
        relayClient = RelayClient(host: host, relay: config.relay, relayPeer: config.relayPeer, logger: logger)
        var links: [String: ShimServiceLink] = [:]
        for (name, peer) in config.services {
            links[name] = ShimServiceLink(name: name, peer: peer, relayLink: relayLink, relayClient: relayClient, logger: logger)
        }
        self.links = links
        var exitLinks: [String: ShimServiceLink] = [:]
        for e in config.exits {
            guard let peer = e.peer else { continue }
            exitLinks[e.name] = ShimServiceLink(name: e.name, peer: peer, protocolID: ProtocolID.airlockExit, relayLink: relayLink,
                                                relayClient: relayClient, logger: logger)
        }
        self.exitLinks = exitLinks
    }

    /// Binds every listener (all or none), then starts dialling the relay.
    public func start() throws(Errno) {
        precondition(!running, "Shim started twice")
        for f in config.forwards where config.services[f.service] == nil {
            // Checked by the command too; a forward to nothing would only ever cut connections.
            logger.warn("shim_forward_unknown_service", ["port": f.listen.port, "service": f.service])
        }
        do throws(Errno) {
            if let a = config.socks { socksAddress = try listen(a, .socks) }
            if let a = config.http { httpAddress = try listen(a, .http) }
            for f in config.forwards {
                let bound = try listen(f.listen, .forward(service: f.service))
                forwardAddresses.append(ShimConfig.Forward(listen: bound, service: f.service))
            }
            if let a = config.dns { dns = try DNSStubServer(on: a, loop: host.loop, logger: logger) }
        } catch {
            closeListeners()
            throw error
        }
        running = true
        relayLink.start()
        logger.info("shim_started", ["peer": host.peerID, "relay": config.relayPeer, "relay_addr": config.relay,
                                     "socks": socksAddress.map { "\($0)" } ?? "-",
                                     "http": httpAddress.map { "\($0)" } ?? "-",
                                     "dns": dns.map { "\($0.address)" } ?? "-",
                                     "services": config.services.keys.sorted().joined(separator: ","),
                                     "exits": config.exits.map(\.name).joined(separator: ",")])
    }

    /// Closes the listeners, the relayed connections and the relay connection. Bridged client
    /// connections are cut when their streams' connections close.
    public func stop() {
        guard running else { return }
        running = false
        closeListeners()
        for link in links.values { link.close() }
        for link in exitLinks.values { link.close() }
        relayLink.stop()
    }

    private func listen(_ address: SocketAddress, _ mode: ShimClient.Mode) throws(Errno) -> SocketAddress {
        let l = try TCPListener(on: address, loop: host.loop)
        l.onAccept = { [unowned self] socket in accepted(socket, mode) }
        listeners.append(l)
        return l.address
    }

    private func closeListeners() {
        for l in listeners { l.close() }
        listeners.removeAll()
        dns?.close()
        dns = nil
    }

    private func accepted(_ socket: Socket, _ mode: ShimClient.Mode) {
        guard running, activeClients < config.maxClients else {
            count(ShimRefusal(.overloaded, "\(activeClients) connections open"))
            logger.warn("shim_refused", ["reason": "overloaded", "clients": activeClients])
            socket.close()
            return
        }
        let tcp: TCPConnection
        do { tcp = try TCPConnection(socket: socket, loop: host.loop) } catch { return }
        activeClients += 1
        clientsAccepted += 1
        ShimClient(tcp: tcp, mode: mode, shim: self).start()
    }

    // MARK: for clients

    /// One stream to `service` (which must be in `services`).
    func openStream(service: String, _ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        guard running, let link = links[service] else {
            let refusal = running ? ShimRefusal(.unknownService, "\(service) is not a service of this agent")
                                  : ShimRefusal(.relayUnavailable, "shim stopping")
            host.loop.runSoon { completion(.failure(refusal)) }
            return
        }
        link.openStream(completion)
    }

    func clientEnded() {
        activeClients -= 1
    }

    func logRefusal(_ refusal: ShimRefusal, client: String, target: String) {
        count(refusal)
        logger.info("shim_refused", ["client": client, "target": target, "reason": refusal.reason, "detail": refusal.detail])
    }

    private func count(_ refusal: ShimRefusal) {
        refusals[refusal.reason, default: 0] += 1
    }
}
