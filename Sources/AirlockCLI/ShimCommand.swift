import AirlockAgent
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockRelay
#if canImport(Glibc)
import Glibc
#endif

/// `airlock shim`: the proxy inside an agent namespace. The relay starts it for `airlock run`
/// (as user airlock-shim, key on stdin); people do not run it by hand, so it is not listed in
/// the top-level usage.
enum ShimCommand: Command {
    static let name = "shim"
    static let summary = "agent-side proxy (started by `airlock run`)"
    static let help = """
        usage: airlock shim --relay IP:PORT --relay-peer ID (--key-stdin | --key FILE) [--socks ADDR] [--http ADDR] [--dns ADDR] [--service NAME=PEERID]... [--forward PORT=NAME]... [--exit NAME=relay|PEERID]... [--log-level LEVEL]

        Runs the agent-side proxy in the foreground: a SOCKS5 proxy and an HTTP proxy on loopback,
        and port forwards, all reaching services through the relay (one relayed connection per
        service, one stream per TCP connection). Other targets go, as names, to the exits given
        (in order; the next only when one refuses by policy), which resolve and connect; with
        no exit they are refused (HTTP 403 with X-Airlock-Reason: unknown-service, SOCKS reply
        2). A DNS stub (UDP and
        TCP) answers every query REFUSED, since names are never resolved inside. Prints
        `shim ready …` once every listener is up. SIGINT or SIGTERM stops it.

        options:
          --relay IP:PORT         the relay's address (inside an agent namespace: the hub side)
          --relay-peer ID         the relay's peer ID
          --key-stdin             read the shim's key (key file text) from standard input
          --key FILE              read the shim's key from a key file instead
          --socks ADDR            SOCKS5 listen address (default 127.0.0.1:1080; `off` for none)
          --http ADDR             HTTP proxy listen address (default 127.0.0.1:3128; `off` for none)
          --dns ADDR              DNS stub listen address, UDP and TCP (default 127.0.0.1:53;
                                  `off` for none)
          --service NAME=PEERID   a service the agent may reach by NAME (repeatable)
          --exit NAME=relay       the relay's own exit (`airlock relay --exit`); NAME=PEERID for an
                                  exit peer (`airlock exit`) reached through a circuit (repeatable)
          --forward PORT=NAME     listen on 127.0.0.1:PORT and connect straight to service NAME
                                  (repeatable; IP:PORT=NAME for another address)
          --log-level LEVEL       debug, info (default), warn or error
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["relay", "relay-peer", "key", "socks", "http", "dns", "service", "forward", "exit", "log-level"],
                              flags: ["key-stdin"])
        if a.wantsHelp { Output.out(help); return 0 }
        guard a.positionals.isEmpty else { throw Arguments.UsageError("unexpected argument \(a.positionals[0])") }
        let config = try settings(a)
        let level = try logLevel(a)
        let keyPath = try a.value("key")
        guard a.has("key-stdin") != (keyPath != nil) else { throw Arguments.UsageError("give exactly one of --key-stdin and --key FILE") }

        let identity: Ed25519PrivateKey
        do {
            identity = keyPath != nil ? try KeyFile.read(keyPath!) : try KeyFile.read(fd: 0, name: "standard input")
        } catch { throw CommandFailure(error.message) }
        let logger = Logger(component: "shim", minimum: level)
        // A log line to a stderr nobody reads any more (the shim outlives the relay that started
        // it) must fail as EPIPE, not end the process.
        signal(SIGPIPE, SIG_IGN)
        let loop: EventLoop
        do { loop = try EventLoop() } catch { throw CommandFailure("cannot create the event loop: \(error)") }
        let host = Host(loop: loop, identity: identity, logger: logger)
        let shim = Shim(host: host, config: config, logger: logger)
        do { try shim.start() } catch {
            throw CommandFailure("cannot listen: \(error) (is another proxy using the port? see --socks, --http, --dns, --forward)")
        }

        let watcher: SignalWatcher
        do {
            watcher = try SignalWatcher(loop: loop, signals: [SIGINT, SIGTERM]) { sig in
                logger.info("shim_stopping", ["signal": sig == SIGINT ? "SIGINT" : "SIGTERM"])
                shim.stop()
                host.shutdown()
                loop.schedule(after: .milliseconds(100)) { loop.stop() }
            }
        } catch { throw CommandFailure("cannot watch signals: \(error)") }

        var ready = "shim ready peer \(host.peerID)"
        if let s = shim.socksAddress { ready += " socks \(s)" }
        if let h = shim.httpAddress { ready += " http \(h)" }
        if let d = shim.dns { ready += " dns \(d.address)" }
        for f in shim.forwardAddresses { ready += " forward \(f.listen)=\(f.service)" }
        for e in config.exits { ready += " exit \(e.name)" }
        Output.out(ready)
        loop.run()
        watcher.cancel()
        loop.dropAll()
        return 0
    }

    /// The shim's configuration from the flags.
    static func settings(_ a: Arguments) throws(Arguments.UsageError) -> ShimConfig {
        let relayText = try a.required("relay")
        guard let relay = SocketAddress(relayText), relay.port != 0 else {
            throw Arguments.UsageError("--relay \(relayText): expected IP:PORT, e.g. 10.99.0.0:4001")
        }
        let peerText = try a.required("relay-peer")
        let relayPeer: PeerID
        do { relayPeer = try PeerID(peerText) } catch { throw Arguments.UsageError("--relay-peer \(peerText): not a peer ID: \(error)") }
        var config = ShimConfig(relay: relay, relayPeer: relayPeer)
        config.socks = try listenAddress(a, "socks", default: config.socks)
        config.http = try listenAddress(a, "http", default: config.http)
        config.dns = try listenAddress(a, "dns", default: config.dns)
        do throws(ShimConfig.ParseError) {
            for s in a.all("service") {
                let (name, peer) = try ShimConfig.parseService(s)
                guard config.services[name] == nil else { throw ShimConfig.ParseError("--service \(name) given twice") }
                config.services[name] = peer
            }
            for e in a.all("exit") {
                let exit = try ShimConfig.parseExit(e)
                guard !config.exits.contains(where: { $0.name == exit.name }) else { throw ShimConfig.ParseError("--exit \(exit.name) given twice") }
                config.exits.append(exit)
            }
            for f in a.all("forward") {
                let forward = try ShimConfig.parseForward(f)
                guard config.services[forward.service] != nil else {
                    throw ShimConfig.ParseError("--forward \(f): \(forward.service) is not a --service")
                }
                config.forwards.append(forward)
            }
        } catch { throw Arguments.UsageError(error.description) }
        return config
    }

    private static func listenAddress(_ a: Arguments, _ flag: String, default d: SocketAddress?) throws(Arguments.UsageError) -> SocketAddress? {
        guard let text = try a.value(flag) else { return d }
        if text == "off" { return nil }
        guard let address = SocketAddress(text) else { throw Arguments.UsageError("--\(flag) \(text): expected IP:PORT or off") }
        return address
    }

    /// `--log-level`, info by default.
    static func logLevel(_ a: Arguments) throws(Arguments.UsageError) -> Logger.Level {
        switch try a.value("log-level") {
        case nil, "info": .info
        case "debug": .debug
        case "warn": .warn
        case "error": .error
        case let other?: throw Arguments.UsageError("--log-level \(other): expected debug, info, warn or error")
        }
    }
}
