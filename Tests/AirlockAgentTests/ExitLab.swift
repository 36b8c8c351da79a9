import Foundation
import Synchronization
import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockRelay
import AirlockWire
@testable import AirlockAgent

/// What exit tests run against, in one process on one loop thread: a relay with its built-in
/// exit (`ExitService.relay`) or an exit peer (`ExitPeer`) reserving on it, a client peer
/// `agent` connected to the relay, HTTP servers on loopback addresses, and a resolver the test
/// scripts (`ScriptedResolver`). Every exit dials through a guard that allows 127.0.0.0/8 only,
/// so a broken check can never send a packet off the machine.
///
/// @unchecked Sendable: every stored object is created and used on `loop` only (`onLoop`).
final class ExitLab: @unchecked Sendable {
    let thread: EventLoopThread
    var loop: EventLoop { thread.loop }
    let keys: [String: Ed25519PrivateKey]
    let logs = ShimLabLog()
    let resolver = ScriptedResolver()
    let audit = AuditLog.capture()
    let auditCapture = ExitLabAudit()

    var relayHost: AirlockIO.Host!
    var relay: RelayServer!
    var relayAddr: SocketAddress!
    var exitPolicy: ExitPolicyServer!
    var relayExit: ExitService?
    var exitPeer: ExitPeer?
    var agentHost: AirlockIO.Host!
    var agentConnection: Libp2pConnection!
    var agentRelayClient: RelayClient!
    var servers: [ShimLabHTTPServer] = []
    var shim: Shim?
    private(set) var httpPort: UInt16 = 0
    private(set) var socksPort: UInt16 = 0

    init() throws {
        thread = try EventLoopThread(name: "exit-lab")
        var k: [String: Ed25519PrivateKey] = [:]
        for n in ["agent", "exitpeer", "stranger"] { k[n] = Ed25519PrivateKey() }
        keys = k
        let capture = auditCapture
        audit.addSink { l in capture.append(l) }
    }

    func peer(_ name: String) -> PeerID { PeerID(publicKey: keys[name]!.publicKey) }

    /// A policy: peer `agent`, exit `out` (the relay's own, or the exit peer), one rule from
    /// agent to out with `destinations`.
    func policy(_ destinations: [String], exitPeer: Bool = false) -> String {
        let list = destinations.map { "\"\($0)\"" }.joined(separator: ", ")
        let location = exitPeer ? peer("exitpeer").description : "relay"
        return """
            { "version": 1,
              "exits": { "out": { "peer": "\(location)" } },
              "peers": { "agent": { "peer": "\(peer("agent"))" } },
              "rules": [ { "from": "agent", "to": "out", "destinations": [\(list)] } ] }
            """
    }

    func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await loop.submit(body)
    }

    static let guardLoopback: @Sendable (IPAddress) -> Bool = { a in a.isIPv4 && a.bytes[0] == 127 }

    /// Starts the relay (with its own exit, or an exit peer reserving on it) and connects the agent.
    func start(policy text: String, exitPeer usePeer: Bool = false) async throws {
        try await onLoop { [self] in
            let logger = labLogger("relay")
            relayHost = AirlockIO.Host(loop: loop, identity: Ed25519PrivateKey(), logger: logger)
            relayAddr = try relayHost.listen(on: .loopbackV4(port: 0))
            relayHost.listenAddrs = [Multiaddr(ip4: (127, 0, 0, 1), port: relayAddr.port)]
            relay = RelayServer(host: relayHost, config: RelayConfig(), policy: try Policy.parse(text: text), logger: logger)
            relay.audit = audit
            relay.start()
            exitPolicy = ExitPolicyServer(server: relay, logger: logger)
            exitPolicy.start()
            var settings = ExitService.Settings()
            settings.dialGuard = ExitLab.guardLoopback
            settings.connectTimeout = 2
            if usePeer {
                let l = labLogger("exitpeer")
                let p = ExitPeer(name: "out", host: AirlockIO.Host(loop: loop, identity: keys["exitpeer"]!, logger: l),
                                 relay: relayAddr, relayPeer: relayHost.peerID, resolver: resolver, settings: settings, logger: l)
                p.service.audit = audit
                p.start()
                exitPeer = p
            } else {
                let e = ExitService.relay(relay, resolver: resolver, settings: settings, logger: logger)
                e.start()
                relayExit = e
            }
            let al = labLogger("agent")
            agentHost = AirlockIO.Host(loop: loop, identity: keys["agent"]!, logger: al)
            agentRelayClient = RelayClient(host: agentHost, relay: relayAddr, relayPeer: relayHost.peerID, logger: al)
            agentHost.dial(relayAddr, expect: relayHost.peerID) { [self] r in
                if case .success(let c) = r { agentConnection = c }
            }
        }
        try await waitUntil("agent connected\(usePeer ? " and exit peer reserved" : "")") { [self] in
            agentConnection != nil && (!usePeer || relay.reservations.count == 1)
        }
    }

    /// A shim for `agent` (its own host, the agent's identity) whose targets that are not
    /// services go to `exits`, with HTTP and SOCKS proxies on free loopback ports.
    func startShim(exits: [ShimConfig.Exit]) async throws {
        try await onLoop { [self] in
            var config = ShimConfig(relay: relayAddr, relayPeer: relayHost.peerID)
            config.socks = .loopbackV4(port: 0)
            config.http = .loopbackV4(port: 0)
            config.dns = nil
            config.exits = exits
            let logger = labLogger("shim")
            let s = Shim(host: AirlockIO.Host(loop: loop, identity: keys["agent"]!, logger: logger), config: config, logger: logger)
            try s.start()
            shim = s
            httpPort = s.httpAddress!.port
            socksPort = s.socksAddress!.port
        }
        try await waitUntil("shim connected") { [self] in shim!.relayLink.state == .connected }
    }

    func viaHTTP(_ url: String, _ extra: [String] = []) async throws -> ShimLabCurl {
        try await ShimLabCurl.run(["-sS", "--max-time", "10"] + extra + ["-x", "http://127.0.0.1:\(httpPort)", url])
    }

    func viaSOCKS(_ url: String) async throws -> ShimLabCurl {
        try await ShimLabCurl.run(["-sS", "--max-time", "10", "--socks5-hostname", "127.0.0.1:\(socksPort)", url])
    }

    /// A server on `ip`:`port` (port 0: any) answering `body`.
    func server(_ ip: String = "127.0.0.1", port: UInt16 = 0, body: String) async throws -> (index: Int, port: UInt16) {
        try await onLoop { [self] in
            let s = try ShimLabHTTPServer(loop: loop, body: body, on: SocketAddress(ip: ip, port: port)!)
            servers.append(s)
            return (servers.count - 1, s.address.port)
        }
    }

    func accepted(_ index: Int) async throws -> Int { try await onLoop { [self] in servers[index].accepted } }

    /// One exit request from `agent`: the answer and, on OK, what an HTTP GET through it returned.
    func ask(_ host: String, _ port: UInt16, through exitPeerCircuit: Bool = false, raw: [UInt8]? = nil) async throws -> ExitOutcome {
        let result = Mutex<ExitOutcome?>(nil)
        let failure = Mutex<String?>(nil)
        try await onLoop { [self] in
            let open: (@escaping (Libp2pConnection) -> Void) -> Void = { [self] body in
                if exitPeerCircuit {
                    agentRelayClient.connect(to: peer("exitpeer")) { r in
                        switch r {
                        case .success(let c): body(c)
                        case .failure(let e): failure.withLock { $0 = "circuit: \(e)" }
                        }
                    }
                } else {
                    body(agentConnection)
                }
            }
            open { c in
                c.openStream(ProtocolID.airlockExit, timeout: 5) { r in
                    guard case .success(let s) = r else { failure.withLock { $0 = "stream: \(r)" }; return }
                    ExitLabClient(stream: s).run(request: raw ?? ExitRequest(host: host, port: port).framed()) { outcome in
                        result.withLock { $0 = outcome }
                    }
                }
            }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let r = result.withLock({ $0 }) { return r }
            if let f = failure.withLock({ $0 }) { throw ShimLabFailure(f) }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ShimLabFailure("no exit answer for \(host):\(port)")
    }

    /// Applies a new policy, as a reload does.
    func reload(_ text: String) async throws {
        try await onLoop { [self] in _ = relay.reload(policy: try Policy.parse(text: text)) }
    }

    func auditLines(_ event: String) -> [String] { auditCapture.lines(event) }

    private func labLogger(_ component: String) -> Logger { LabSupport.logger(component, into: logs) }

    /// Polls `condition` on the loop every 20 ms until it holds; throws after `timeout` seconds.
    func waitUntil(_ what: String, timeout: Double = 10, _ condition: @escaping @Sendable () -> Bool) async throws {
        try await LabSupport.waitUntil(loop, what, timeout: timeout, condition)
    }

    func shutdown() async {
        _ = try? await onLoop { [self] in
            shim?.stop()
            shim?.host.shutdown()
            relayExit?.stop()
            exitPeer?.stop()
            exitPeer?.host.shutdown()
            agentHost?.shutdown()
            exitPolicy?.stop()
            relay?.stop()
            relayHost?.shutdown()
            for s in servers { s.close() }
        }
        try? await Task.sleep(for: .milliseconds(50))
        thread.stopAndJoin()
    }
}

/// Audit lines captured from the lab's `AuditLog`.
final class ExitLabAudit: Sendable {
    private let all = Mutex<[String]>([])
    func append(_ line: String) { all.withLock { $0.append(line) } }
    /// Lines whose event is `event`.
    func lines(_ event: String) -> [String] { all.withLock { $0 }.filter { $0.contains("\"event\":\"\(event)\"") } }
}

/// What one exit request came to.
struct ExitOutcome: Sendable {
    let response: ExitResponse?
    /// The HTTP answer read after OK (the request sent was `GET / HTTP/1.1`).
    let body: String
    /// How the stream ended when there was no answer.
    let ended: String?

    var status: ExitResponse.Status? { response?.status }
    var reason: String { response?.reason ?? "-" }
}

/// The agent's side of one exit stream: sends the request, reads the answer, and after OK sends
/// an HTTP GET and collects everything until the stream ends.
final class ExitLabClient {
    let stream: Libp2pStream
    private var response: ExitResponse?
    private var collected: [UInt8] = []
    private var done: ((ExitOutcome) -> Void)?

    init(stream: Libp2pStream) { self.stream = stream }

    func run(request: [UInt8], _ done: @escaping (ExitOutcome) -> Void) {
        self.done = done
        stream.onReadable = { [self] in read() }
        stream.onRemoteClose = { [self] in if response?.status != .ok { finish(nil) } }
        stream.onEnd = { [self] end in finish("\(end)") }
        stream.send(request)
    }

    private func read() {
        if response == nil {
            guard let body = try? stream.readMessage(cap: ExitWire.maxMessageLength), let r = try? ExitResponse(decoding: body[...]) else { return }
            response = r
            guard r.status == .ok else { return }
            stream.send(Array("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".utf8))
            stream.closeWrite()
        }
        collected += stream.take()
    }

    private func finish(_ ended: String?) {
        guard let d = done else { return }
        done = nil
        let text = String(decoding: collected, as: UTF8.self)
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        d(ExitOutcome(response: response, body: body, ended: response == nil ? (ended ?? "closed") : nil))
        if stream.isOpen { stream.reset() }
    }
}

/// A resolver the test scripts: each name has a list of answers, one per lookup (the last one
/// repeats); lookups are counted. Names it does not hold fail as `no-such-name`.
final class ScriptedResolver: NameResolver, @unchecked Sendable {  // all state behind `state`
    private let state = Mutex<(answers: [String: [[IPAddress]]], lookups: [String: Int])>(([:], [:]))

    func set(_ name: String, _ answers: [String]...) {
        state.withLock { $0.answers[name] = answers.map { $0.map { IPAddress($0)! } } }
    }

    func lookups(_ name: String) -> Int { state.withLock { $0.lookups[name] ?? 0 } }

    func resolve(_ name: String, _ completion: @escaping @Sendable (Result<[IPAddress], ResolveError>) -> Void) {
        let answer = state.withLock { s -> [IPAddress]? in
            let n = s.lookups[name, default: 0]
            s.lookups[name] = n + 1
            guard let list = s.answers[name], !list.isEmpty else { return nil }
            return list[min(n, list.count - 1)]
        }
        completion(answer.map { .success($0) } ?? .failure(ResolveError("no-such-name", "\(name) is not scripted")))
    }
}
