import AirlockAgent
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
        usage: airlock relay (--config FILE | --listen ADDR... --key FILE --policy FILE) [--hub-prefix P | --no-hub] [--control PATH] [--exit [--hosts FILE] [--no-system-dns]] [--log-level LEVEL] [--audit FILE]

        Runs the relay in the foreground. Each listen address gets a line on stdout,
        `listening /ip4/…/tcp/…/p2p/<relay peer ID>`, once it accepts connections: give that
        address to services and clients. Reservations, circuits and refusals are logged to stderr
        with their reasons. SIGHUP (or `airlock policy reload`, and every `airlock allow` / `deny`)
        reloads the policy: a file that does not validate is refused with every problem and the
        last good policy stays; circuits and reservations the new policy no longer allows are
        closed at once, each logged (circuit_revoked, reservation_ended reason=revoked). SIGUSR1 logs every counter in one
        relay_counters line (as the relay does when it stops); SIGINT or SIGTERM stops the relay.

        Unless --no-hub is given, the relay also creates its hub network namespace (`P-hub`,
        root only), where agents' veths end, and serves the control socket that `airlock run`,
        `attach` and `detach` use (group `airlock` may connect). At start it removes whatever a
        crashed relay with the same prefix left; at stop it removes the hub and every agent.

        With --exit the relay is also the policy's exit with `"peer": "relay"`: agents' requests
        for outside `host:port` destinations are matched against their rules first, then the
        relay resolves the name itself (the --hosts map first, then system DNS), refuses
        loopback, private, link-local, metadata and similar addresses unless a rule names them,
        and connects to exactly the address it checked (docs/policy.md, Destinations). A reload
        re-reads the --hosts file too, and closes exit connections the new policy no longer
        allows. Exit peers that run apart (`airlock exit`) ask this relay about each request in
        any case.

        options:
          --config FILE      relay config (see Relay/relay.example.json and Relay/README.md)
          --listen ADDR      address to listen on, e.g. 127.0.0.1:4001 or [::1]:4001 (repeatable;
                             port 0 picks a free port)
          --key FILE         the relay's Ed25519 key file (make one with `airlock key generate`)
          --policy FILE      the allowlist (docs/policy.md); nothing is allowed without one
          --hub-prefix P     prefix of the hub and agent namespaces and links (default
                             airlock: `airlock-hub`, `airlock-NAME`); a-z and 0-9, at most 8
          --no-hub           no hub and no control socket: a relay for remote peers only
          --control PATH     the control socket (default /run/airlock/control.sock)
          --exit             serve the policy's relay exit (`"exits": {"NAME": {"peer": "relay"}}`)
          --hosts FILE       with --exit: names the exit resolves from FILE (/etc/hosts format)
                             before asking system DNS
          --no-system-dns    with --exit: resolve only through --hosts, never through DNS
          --log-level LEVEL  debug, info (default), warn or error
          --audit FILE       also append one JSON object per line for every decision (reserve,
                             connect, exit request, exit peer check, reload, revocation) and
                             every circuit and exit connection closed to FILE; `-` is stderr
                             (overrides the config's audit_log)

        example:
          airlock key generate --out relay.key
          airlock relay --listen 127.0.0.1:4001 --key relay.key --policy Relay/policy.example.json
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["config", "listen", "key", "policy", "log-level", "hub-prefix", "control", "audit", "hosts"],
                              flags: ["no-hub", "exit", "no-system-dns"])
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
        // A log line to a stderr nobody reads any more (the shim outlives the relay that started
        // it) must fail as EPIPE, not end the process.
        signal(SIGPIPE, SIG_IGN)
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

        if let path = file.auditLog {
            switch AuditLog.open(path: path) {
            case .success(let a): server.audit = a
            case .failure(let e): throw CommandFailure("\(e); give another --audit FILE, or `-` for stderr")
            }
        }
        server.start()
        let exitPolicy = ExitPolicyServer(server: server, logger: logger)
        exitPolicy.start()
        var exit: ExitService?
        var resolver: ExitResolver?
        if file.exit.enabled {
            let r = ExitResolver(hosts: try hostsFile(file.exit.hosts), systemDNS: file.exit.systemDNS)
            let e = ExitService.relay(server, resolver: r, logger: logger)
            e.start()
            exit = e
            resolver = r
            logger.info("exit_started", ["exit": e.name, "hosts": file.exit.hosts ?? "-", "system_dns": file.exit.systemDNS])
        }
        warnAboutExit(policy, enabled: file.exit.enabled, logger: logger)
        let policyPath = file.policy
        let exitHosts = file.exit.hosts
        // A reload re-reads the policy, and the exit's hosts file with it.
        let reloadAll = { () -> Result<RelayServer.ReloadOutcome, PolicyError> in
            if let resolver, let path = exitHosts { reloadHosts(resolver, path: path, logger: logger) }
            let r = reload(server, path: policyPath)
            if case .success = r { warnAboutExit(server.policy, enabled: resolver != nil, logger: logger) }
            return r
        }
        let agents = file.hub.enabled ? try startAgents(file, host: host, server: server, logger: logger) : nil
        agents?.policyPath = policyPath
        agents?.exit = exit
        agents?.reloadPolicy = reloadAll

        let watcher: SignalWatcher
        do {
            watcher = try SignalWatcher(loop: loop, signals: [SIGINT, SIGTERM, SIGHUP, SIGUSR1]) { sig in
                if sig == SIGUSR1 {
                    logCounters(server, logger)
                    if let exit { logger.info("exit_counters", ["exit": exit.name, "counters": exit.counters.line]) }
                    return
                }
                if sig == SIGHUP { _ = reloadAll(); return }
                logger.info("relay_stopping", ["signal": sig == SIGINT ? "SIGINT" : "SIGTERM"])
                logCounters(server, logger)
                if let exit { logger.info("exit_counters", ["exit": exit.name, "counters": exit.counters.line]) }
                if let agents { stopAgents(agents, logger: logger) }
                exit?.stop()
                exitPolicy.stop()
                server.stop()
                host.shutdown()
                // Let the goodbyes (GoAway, FIN) go out, then leave.
                loop.schedule(after: .milliseconds(100)) { loop.stop() }
            }
        } catch { throw CommandFailure("cannot watch signals: \(error)") }

        logger.info("relay_started", ["peer": host.peerID, "listen": announced.joined(separator: ","), "policy": policyPath])
        for line in announced { Output.out("listening \(line)") }
        loop.run()
        watcher.cancel()
        loop.dropAll()
        logger.info("relay_stopped", [:])
        return 0
    }

    /// Re-reads the policy at `path` and applies it, or keeps the current one when the file does
    /// not validate (logged and audited with every problem). SIGHUP and the control socket's
    /// `reload` both come here, on the loop.
    static func reload(_ server: RelayServer, path: String) -> Result<RelayServer.ReloadOutcome, PolicyError> {
        do {
            return .success(server.reload(policy: try Policy.load(path: path)))
        } catch {
            server.reloadRefused(file: path, problems: error.problems.map(\.description))
            return .failure(error)
        }
    }

    /// Says when the policy and `--exit` disagree: an exit at the relay the relay does not run
    /// (agents asking it get `exit-unavailable`), or `--exit` with no such exit in the policy
    /// (every request is refused).
    static func warnAboutExit(_ policy: Policy, enabled: Bool, logger: Logger) {
        if enabled && policy.relayExit == nil {
            logger.warn("exit_not_in_policy", ["reason": "the policy names no exit with \"peer\": \"relay\"; every exit request is refused until it does"])
        } else if !enabled, let e = policy.relayExit {
            logger.warn("exit_not_running", ["exit": e.name, "reason": "the policy's exit \(e.name) is the relay's own, but the relay runs without --exit; agents asking it get exit-unavailable"])
        }
    }

    /// Re-reads the exit's hosts file; a file that does not parse is refused and the last good
    /// map stays (`exit_hosts_refused`).
    static func reloadHosts(_ resolver: ExitResolver, path: String, logger: Logger) {
        do {
            let h = try HostsFile.load(path: path)
            resolver.replaceHosts(h)
            logger.info("exit_hosts_reloaded", ["file": path, "names": h.entries.count])
        } catch {
            logger.error("exit_hosts_refused", ["file": path, "reason": error.description])
        }
    }

    /// The exit's hosts map, read at start.
    static func hostsFile(_ path: String?) throws(CommandFailure) -> HostsFile? {
        guard let path else { return nil }
        do { return try HostsFile.load(path: path) } catch { throw CommandFailure("--hosts: \(error)") }
    }

    /// One `relay_counters` line with every counter as `name=value` (Relay/README.md, Counters).
    static func logCounters(_ server: RelayServer, _ logger: Logger) {
        logger.info("relay_counters", ["counters": server.counters.named.map { "\($0.name)=\($0.value)" }.joined(separator: " ")])
    }

    /// Creates the hub namespace and serves the control socket; on failure nothing is left.
    static func startAgents(_ file: RelayConfigFile, host: Host, server: RelayServer, logger: Logger) throws(CommandFailure) -> AgentManager {
        do { return try makeAgents(file, host: host, server: server, logger: logger) } catch {
            server.stop()
            host.shutdown()
            host.loop.dropAll()
            throw error
        }
    }

    private static func makeAgents(_ file: RelayConfigFile, host: Host, server: RelayServer, logger: Logger) throws(CommandFailure) -> AgentManager {
        let prefix = file.hub.namespacePrefix
        let hub: AgentHub
        do { hub = try AgentHub(prefix: prefix, host: host, logger: logger) } catch { throw CommandFailure("\(error)") }
        do { try hub.start() } catch {
            if case .prefixInUse = error { throw CommandFailure("\(error)") }
            throw CommandFailure("cannot create the hub namespace \(hub.hubNamespaceName): \(error)\n"
                                 + "the hub needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); run the relay as root, or give --no-hub for a relay without agents")
        }
        let manager: AgentManager
        do {
            manager = try AgentManager(hub: hub, server: server, logger: logger)
            let group = AgentUser.groupID(named: AgentUser.operatorGroup)
            if group == nil {
                logger.warn("control_group_missing", ["group": AgentUser.operatorGroup, "reason": "only root may use the control socket; create the group with `make users`"])
            }
            try manager.listen(path: file.controlSocket, group: group)
        } catch {
            try? hub.stop()
            throw CommandFailure("cannot serve the control socket \(file.controlSocket): \(error)")
        }
        logger.info("control_listening", ["path": file.controlSocket, "hub": hub.hubNamespaceName])
        return manager
    }

    /// Ends every run and attachment, then removes the hub.
    static func stopAgents(_ manager: AgentManager, logger: Logger) {
        manager.stop()
        do { try manager.hub.stop() } catch { logger.error("hub_stop_failed", ["reason": "\(error)"]) }
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
        if a.has("no-hub") {
            guard try a.value("hub-prefix") == nil else { throw Arguments.UsageError("--no-hub and --hub-prefix exclude each other") }
            file.hub.enabled = false
        }
        if let prefix = try a.value("hub-prefix") {
            guard prefix.utf8.count <= RelayConfigFile.maxNamespacePrefixLength else {
                throw Arguments.UsageError("--hub-prefix \(prefix): at most \(RelayConfigFile.maxNamespacePrefixLength) characters")
            }
            do { try AgentHub.validate(prefix: prefix) } catch { throw Arguments.UsageError("--hub-prefix \(prefix): \(error)") }
            file.hub.namespacePrefix = prefix
            file.hub.enabled = true
        }
        if let control = try a.value("control") {
            guard control.hasPrefix("/"), control.utf8.count <= RelayConfigFile.maxSocketPathLength else {
                throw Arguments.UsageError("--control \(control): expected an absolute path of at most \(RelayConfigFile.maxSocketPathLength) bytes")
            }
            file.controlSocket = control
        }
        if let audit = try a.value("audit") {
            guard !audit.isEmpty else { throw Arguments.UsageError("--audit: expected a file, or - for stderr") }
            file.auditLog = audit
        }
        if a.has("exit") { file.exit.enabled = true }
        if let hosts = try a.value("hosts") { file.exit.hosts = hosts }
        if a.has("no-system-dns") { file.exit.systemDNS = false }
        if !file.exit.enabled && (a.has("no-system-dns") || a.all("hosts").count > 0) {
            throw Arguments.UsageError("--hosts and --no-system-dns apply only with --exit")
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
