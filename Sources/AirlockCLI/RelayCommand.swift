import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockRelay
import AirlockWire
#if canImport(Glibc)
import Glibc
#endif

/// `airlock relay`: runs the relay in the foreground until SIGINT or SIGTERM; SIGHUP reloads the
/// policy (a malformed one is refused and the last good one stays).
enum RelayCommand: Command {
    static let name = "relay"
    static let summary = "run the relay (reservations, circuits, policy)"
    static let help = """
        usage: airlock relay (--config FILE | --listen ADDR... --key FILE --policy FILE) [--log-level LEVEL]

        Runs the relay in the foreground. Each listen address gets a line on stdout,
        `listening /ip4/…/tcp/…/p2p/<relay peer ID>`, once it accepts connections: give that
        address to services and clients. Reservations, circuits and refusals are logged to stderr
        with their reasons. SIGHUP reloads the policy; SIGINT or SIGTERM stops the relay.

        options:
          --config FILE      relay config (see Relay/relay.example.json and Relay/README.md)
          --listen ADDR      address to listen on, e.g. 127.0.0.1:4001 or [::1]:4001 (repeatable;
                             port 0 picks a free port)
          --key FILE         the relay's Ed25519 key file (make one with `airlock key generate`)
          --policy FILE      the allowlist (docs/policy.md); nothing is allowed without one
          --log-level LEVEL  debug, info (default), warn or error

        example:
          airlock key generate --out relay.key
          airlock relay --listen 127.0.0.1:4001 --key relay.key --policy Relay/policy.example.json
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["config", "listen", "key", "policy", "log-level"])
        if a.wantsHelp { Output.out(help); return 0 }
        guard a.positionals.isEmpty else { throw Arguments.UsageError("unexpected argument \(a.positionals[0])") }
        let file = try settings(a)

        let identity: Ed25519PrivateKey
        do { identity = try KeyFile.read(file.key) } catch { throw CommandFailure(error.message) }
        let policy: Policy
        do { policy = try Policy.load(path: file.policy) } catch {
            throw CommandFailure("\(error)\npolicy \(file.policy) is not valid; fix it (see `airlock policy validate \(file.policy)`)")
        }
        let logger = Logger(component: "relay", minimum: file.logLevel)
        _ = try? raiseOpenFileLimit()

        let loop: EventLoop
        do { loop = try EventLoop() } catch { throw CommandFailure("cannot create the event loop: \(error)") }
        var hostConfig = HostConfig()
        let rc = file.relayConfig
        hostConfig.handshakeTimeout = rc.handshakeTimeout
        hostConfig.messageTimeout = rc.messageTimeout
        hostConfig.maxStreamsPerConnection = rc.maxStreamsPerConnection
        hostConfig.maxConnections = rc.maxConnections
        hostConfig.maxHandshaking = rc.maxHandshakingConnections
        let host = Host(loop: loop, identity: identity, config: hostConfig, logger: logger)
        let server = RelayServer(host: host, config: rc, policy: policy, logger: logger)

        var announced: [String] = []
        for address in file.listen {
            let bound: SocketAddress
            do { bound = try host.listen(on: address) } catch {
                throw CommandFailure("cannot listen on \(address): \(error)")
            }
            guard let ip = IPAddress(bound.ipString) else { continue }
            let ma = Multiaddr(ip: ip, tcpPort: bound.port)
            host.listenAddrs.append(ma)
            announced.append("\(ma)/p2p/\(host.peerID)")
        }

        let policyPath = file.policy
        let watcher: SignalWatcher
        do {
            watcher = try SignalWatcher(loop: loop, signals: [SIGINT, SIGTERM, SIGHUP]) { sig in
                if sig == SIGHUP {
                    do {
                        server.reload(policy: try Policy.load(path: policyPath))
                    } catch {
                        logger.error("policy_reload_refused", ["file": policyPath, "reason": "\(error)"])
                    }
                    return
                }
                logger.info("relay_stopping", ["signal": sig == SIGINT ? "SIGINT" : "SIGTERM"])
                server.stop()
                host.shutdown()
                // Let the goodbyes (GoAway, FIN) go out, then leave.
                loop.schedule(after: .milliseconds(100)) { loop.stop() }
            }
        } catch { throw CommandFailure("cannot watch signals: \(error)") }

        server.start()
        logger.info("relay_started", ["peer": host.peerID, "listen": announced.joined(separator: ","), "policy": policyPath])
        for line in announced { Output.out("listening \(line)") }
        loop.run()
        watcher.cancel()
        loop.dropAll()
        logger.info("relay_stopped", [:])
        return 0
    }

    /// The settings from `--config`, or from the individual flags.
    static func settings(_ a: Arguments) throws -> RelayConfigFile {
        var file: RelayConfigFile
        if let path = try a.value("config") {
            for flag in ["listen", "key", "policy"] where !a.all(flag).isEmpty {
                throw Arguments.UsageError("--\(flag) cannot be combined with --config")
            }
            do { file = try RelayConfigFile.load(path: path) } catch { throw CommandFailure("\(error)") }
        } else {
            let listen = a.all("listen")
            guard !listen.isEmpty else { throw Arguments.UsageError("give --config FILE, or --listen, --key and --policy") }
            var addresses: [SocketAddress] = []
            for l in listen {
                guard let s = SocketAddress(l) else { throw Arguments.UsageError("--listen \(l): expected IP:PORT, e.g. 127.0.0.1:4001 or [::1]:4001") }
                addresses.append(s)
            }
            file = RelayConfigFile(listen: addresses, key: try a.required("key"), policy: try a.required("policy"))
        }
        if let level = try a.value("log-level") {
            switch level {
            case "debug": file.logLevel = .debug
            case "info": file.logLevel = .info
            case "warn": file.logLevel = .warn
            case "error": file.logLevel = .error
            default: throw Arguments.UsageError("--log-level \(level): expected debug, info, warn or error")
            }
        }
        return file
    }
}
