import AirlockAgent
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockRelay
import AirlockWire
#if canImport(Glibc)
import Glibc
#endif

/// `airlock expose`: runs a service peer in the foreground until SIGINT or SIGTERM.
enum ExposeCommand: Command {
    static let name = "expose"
    static let summary = "serve a local TCP service to agents through the relay"
    static let help = """
        usage: airlock expose NAME --target HOST:PORT --relay MULTIADDR --key FILE [--log-level LEVEL]

        Reserves on the relay with the service's identity and serves each agent connection the
        relay lets through (policy) by connecting to the target and copying bytes both ways.
        Prints `exposed NAME as <peer ID> via <relay peer ID>` once the reservation is granted;
        the relay policy must list this peer ID as service NAME. If the relay goes away, the
        service reconnects and reserves again (with back-off). SIGINT or SIGTERM stops it.

        options:
          --target HOST:PORT  where the service listens, e.g. 127.0.0.1:8080 or localhost:8080
          --relay MULTIADDR   the relay, /ip4/…/tcp/…/p2p/<relay peer ID> (printed by `airlock relay`)
          --key FILE          the service's Ed25519 key file (make one with `airlock key generate`)
          --log-level LEVEL   debug, info (default), warn or error

        example:
          airlock expose web --target 127.0.0.1:8080 --relay /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW… --key web.key
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["target", "relay", "key", "log-level"])
        if a.wantsHelp { Output.out(help); return 0 }
        guard a.positionals.count == 1 else {
            throw Arguments.UsageError(a.positionals.isEmpty ? "the service NAME is missing" : "unexpected argument \(a.positionals[1])")
        }
        let serviceName: String
        do { serviceName = try ShimConfig.serviceName(Substring(a.positionals[0])) } catch { throw Arguments.UsageError(error.description) }
        let target = try parseTarget(try a.required("target"))
        let (relay, relayPeer) = try parseRelay(try a.required("relay"))
        let keyPath = try a.required("key")
        let level = try ShimCommand.logLevel(a)

        let identity: Ed25519PrivateKey
        do { identity = try KeyFile.read(keyPath) } catch { throw CommandFailure(error.message) }
        let logger = Logger(component: "expose", minimum: level)
        // A log line to a stderr nobody reads any more (the shim outlives the relay that started
        // it) must fail as EPIPE, not end the process.
        signal(SIGPIPE, SIG_IGN)
        let loop: EventLoop
        do { loop = try EventLoop() } catch { throw CommandFailure("cannot create the event loop: \(error)") }
        let host = Host(loop: loop, identity: identity, logger: logger)
        let service = ServicePeer(name: serviceName, host: host, target: target, relay: relay, relayPeer: relayPeer, logger: logger)

        var announced = false
        service.onReservation = { r in
            switch r {
            case .success:
                if !announced {
                    announced = true
                    Output.out("exposed \(serviceName) as \(host.peerID) via \(relayPeer)")
                }
            case .failure(let e):
                if e.status == .reservationRefused || e.status == .permissionDenied {
                    logger.error("expose_refused", ["service": serviceName, "peer": host.peerID,
                                                    "hint": "the relay policy must list this peer ID as service \(serviceName)"])
                }
            }
        }
        let watcher: SignalWatcher
        do {
            watcher = try SignalWatcher(loop: loop, signals: [SIGINT, SIGTERM]) { sig in
                logger.info("expose_stopping", ["signal": sig == SIGINT ? "SIGINT" : "SIGTERM"])
                service.stop()
                host.shutdown()
                loop.schedule(after: .milliseconds(100)) { loop.stop() }
            }
        } catch { throw CommandFailure("cannot watch signals: \(error)") }

        service.start()
        logger.info("expose_started", ["service": serviceName, "peer": host.peerID, "target": target, "relay": relayPeer])
        loop.run()
        watcher.cancel()
        loop.dropAll()
        return 0
    }

    /// `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT` (no other names: nothing is resolved here).
    static func parseTarget(_ text: String) throws(Arguments.UsageError) -> SocketAddress {
        if text.hasPrefix("localhost:"), let port = UInt16(text.dropFirst("localhost:".count)), port != 0 {
            return .loopbackV4(port: port)
        }
        guard let a = SocketAddress(text), a.port != 0 else {
            throw Arguments.UsageError("--target \(text): expected IP:PORT, e.g. 127.0.0.1:8080")
        }
        return a
    }

    /// `/ip4|ip6/…/tcp/…/p2p/RELAYID`.
    static func parseRelay(_ text: String) throws(Arguments.UsageError) -> (SocketAddress, PeerID) {
        let ma: Multiaddr
        do { ma = try Multiaddr(text) } catch {
            throw Arguments.UsageError("--relay \(text): not a multiaddr: \(error)")
        }
        guard !ma.isCircuit, let peer = ma.peerID, let (ip, port) = ma.tcpEndpoint,
              let address = SocketAddress(ip: ip.description, port: port) else {
            throw Arguments.UsageError("--relay \(text): expected /ip4/…/tcp/…/p2p/<relay peer ID>")
        }
        return (address, peer)
    }
}
