import AirlockAgent
import AirlockCore
import AirlockCrypto
import AirlockIO
#if canImport(Glibc)
import Glibc
#endif

/// `airlock exit`: runs an exit peer in the foreground until SIGINT or SIGTERM.
enum ExitCommand: Command {
    static let name = "exit"
    static let summary = "run an exit peer that dials outside destinations for agents, under policy"
    static let help = """
        usage: airlock exit NAME --relay MULTIADDR --key FILE [--hosts FILE] [--no-system-dns] [--audit FILE] [--log-level LEVEL]

        Reserves on the relay as exit NAME (the policy lists this peer ID under "exits") and
        serves agents' requests for outside `host:port` destinations that come through circuits.
        For each request it asks the relay whether the agent's rules allow that host and port,
        and only then resolves the name itself (the --hosts map first, then system DNS), refuses
        loopback, private, link-local, metadata and similar addresses unless a rule names them,
        and connects to exactly the address it checked (docs/policy.md, Destinations). After each
        policy reload the relay tells it, and it closes what is no longer allowed. Prints
        `exit NAME ready as <peer ID> via <relay peer ID>` once the reservation is granted.
        SIGHUP re-reads the --hosts file (one that does not parse is refused and the last good
        one stays); SIGUSR1 logs its counters in one exit_counters line (as it does when it
        stops); SIGINT or SIGTERM stops it.

        options:
          --relay MULTIADDR   the relay, /ip4/…/tcp/…/p2p/<relay peer ID> (printed by `airlock relay`)
          --key FILE          the exit's Ed25519 key file (make one with `airlock key generate`)
          --hosts FILE        names to resolve from FILE (/etc/hosts format) before system DNS
          --no-system-dns     resolve only through --hosts, never through DNS
          --audit FILE        append one JSON line per request and per closed connection to FILE
                              (`-` is stderr)
          --log-level LEVEL   debug, info (default), warn or error

        exit status: 0 stopped by a signal, 1 a failure (the message says which), 64 usage error.

        example:
          airlock exit web --relay /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW… --key exit.key
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["relay", "key", "hosts", "audit", "log-level"], flags: ["no-system-dns"])
        if a.wantsHelp { Output.out(help); return 0 }
        guard a.positionals.count == 1 else {
            throw Arguments.UsageError(a.positionals.isEmpty ? "the exit NAME is missing" : "unexpected argument \(a.positionals[1])")
        }
        let exitName = a.positionals[0]
        // As policy names are written (docs/policy.md): the name is what logs and audit lines say.
        guard exitName.utf8.count <= 32, let first = exitName.utf8.first, (0x61...0x7a).contains(first) || (0x30...0x39).contains(first),
              exitName.utf8.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2d }) else {
            throw Arguments.UsageError("exit name \(exitName): expected the exit's name in the policy (a-z, 0-9 and -, at most 32)")
        }
        let (relay, relayPeer) = try ExposeCommand.parseRelay(try a.required("relay"))
        let keyPath = try a.required("key")
        let level = try ShimCommand.logLevel(a)
        let hostsPath = try a.value("hosts")
        let hosts = try RelayCommand.hostsFile(hostsPath)
        let systemDNS = !a.has("no-system-dns")
        if hosts == nil && !systemDNS { throw Arguments.UsageError("--no-system-dns without --hosts would resolve nothing") }

        let identity: Ed25519PrivateKey
        do { identity = try KeyFile.read(keyPath) } catch { throw CommandFailure(error.message) }
        var audit: AuditLog?
        if let path = try a.value("audit") {
            switch AuditLog.open(path: path) {
            case .success(let log): audit = log
            case .failure(let e): throw CommandFailure("\(e); give another --audit FILE, or `-` for stderr")
            }
        }
        let logger = Logger(component: "exit", minimum: level)
        signal(SIGPIPE, SIG_IGN)
        _ = try? raiseOpenFileLimit()
        let loop: EventLoop
        do { loop = try EventLoop() } catch { throw CommandFailure("cannot create the event loop: \(error)") }
        let host = Host(loop: loop, identity: identity, logger: logger)
        let resolver = ExitResolver(hosts: hosts, systemDNS: systemDNS)
        let exit = ExitPeer(name: exitName, host: host, relay: relay, relayPeer: relayPeer, resolver: resolver, logger: logger)
        exit.service.audit = audit

        var announced = false
        exit.onReservation = { r in
            switch r {
            case .success:
                if !announced {
                    announced = true
                    Output.out("exit \(exitName) ready as \(host.peerID) via \(relayPeer)")
                }
            case .failure(let e):
                if e.status == .reservationRefused || e.status == .permissionDenied {
                    logger.error("exit_refused", ["exit": exitName, "peer": host.peerID,
                                                  "hint": "the relay policy must list this peer ID as exit \(exitName)"])
                }
            }
        }
        let watcher: SignalWatcher
        do {
            watcher = try SignalWatcher(loop: loop, signals: [SIGINT, SIGTERM, SIGHUP, SIGUSR1]) { sig in
                if sig == SIGHUP {
                    if let path = hostsPath { RelayCommand.reloadHosts(resolver, path: path, logger: logger) }
                    return
                }
                logger.info("exit_counters", ["exit": exitName, "counters": exit.service.counters.line])
                if sig == SIGUSR1 { return }
                logger.info("exit_stopping", ["signal": sig == SIGINT ? "SIGINT" : "SIGTERM"])
                exit.stop()
                host.shutdown()
                loop.schedule(after: .milliseconds(100)) { loop.stop() }
            }
        } catch { throw CommandFailure("cannot watch signals: \(error)") }

        exit.start()
        logger.info("exit_started", ["exit": exitName, "peer": host.peerID, "relay": relayPeer, "system_dns": systemDNS])
        loop.run()
        watcher.cancel()
        loop.dropAll()
        return 0
    }
}
