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

/// Everything the shim tests run against, in one process on one loop thread: a relay (policy:
/// peer `agent` may reach service `web`, not service `other`), a ServicePeer `web` in front of a
/// tiny HTTP server, a ServicePeer `other` in front of another, and a Shim with SOCKS5, HTTP and
/// one forward on ephemeral loopback ports. Real `curl` processes are the agents.
///
/// @unchecked Sendable: every stored object is created and used on `loop` only (through
/// `onLoop`); the test thread reads only the `Sendable` values those calls return.
final class ShimLab: @unchecked Sendable {
    static let webBody = "hello from web through the airlock\n"
    static let otherBody = "other says hi\n"

    let thread: EventLoopThread
    var loop: EventLoop { thread.loop }
    let keys: [String: Ed25519PrivateKey]
    let logs = ShimLabLog()
    let relayKey = Ed25519PrivateKey()

    // Loop-only state.
    var relayHost: AirlockIO.Host!
    var relay: RelayServer!
    var relayAddr: SocketAddress!
    var webServer: ShimLabHTTPServer!
    var otherServer: ShimLabHTTPServer!
    var web: ServicePeer!
    var other: ServicePeer!
    var shim: Shim!
    var relaysStarted = 0

    /// The shim's bound ports, read once after start.
    private(set) var httpPort: UInt16 = 0
    private(set) var socksPort: UInt16 = 0
    private(set) var forwardPort: UInt16 = 0

    init() throws {
        thread = try EventLoopThread(name: "shim-lab")
        var k: [String: Ed25519PrivateKey] = [:]
        for n in ["agent", "web", "other"] { k[n] = Ed25519PrivateKey() }
        keys = k
    }

    func peer(_ name: String) -> PeerID { PeerID(publicKey: keys[name]!.publicKey) }

    var policyText: String {
        """
        { "version": 1,
          "services": { "web": { "peer": "\(peer("web"))" }, "other": { "peer": "\(peer("other"))" } },
          "peers": { "agent": { "peer": "\(peer("agent"))" } },
          "rules": [ { "from": "agent", "to": "web" } ] }
        """
    }

    /// Runs `body` on the loop and returns its result.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await loop.submit(body)
    }

    /// Starts the relay, both services and the shim, and waits until the services hold
    /// reservations and the shim is connected to the relay.
    func start(configure: @escaping @Sendable (inout ShimConfig) -> Void = { _ in }) async throws {
        try await onLoop { [self] in
            try startRelay(port: 0)
            webServer = try ShimLabHTTPServer(loop: loop, body: ShimLab.webBody)
            otherServer = try ShimLabHTTPServer(loop: loop, body: ShimLab.otherBody)
            web = service("web", target: webServer.address)
            other = service("other", target: otherServer.address)
            var config = ShimConfig(relay: relayAddr, relayPeer: relayHost.peerID)
            config.socks = .loopbackV4(port: 0)
            config.http = .loopbackV4(port: 0)
            config.dns = nil  // never port 53 of the test machine's own loopback (ShimDNSTests has its own namespace)
            config.services = ["web": peer("web"), "other": peer("other")]
            config.forwards = [ShimConfig.Forward(listen: .loopbackV4(port: 0), service: "web")]
            configure(&config)
            let logger = labLogger("shim")
            shim = Shim(host: AirlockIO.Host(loop: loop, identity: keys["agent"]!, logger: logger), config: config, logger: logger)
            try shim.start()
            httpPort = shim.httpAddress!.port
            socksPort = shim.socksAddress!.port
            forwardPort = shim.forwardAddresses[0].listen.port
        }
        try await waitUntil("services reserved and shim connected") { [self] in
            relay.reservations.count == 2 && shim.relayLink.state == .connected
        }
    }

    /// A relay on 127.0.0.1:`port` with the lab's identity and policy.
    func startRelay(port: UInt16) throws {
        let logger = labLogger("relay")
        relayHost = AirlockIO.Host(loop: loop, identity: relayKey, logger: logger)
        relayAddr = try relayHost.listen(on: .loopbackV4(port: port))
        relayHost.listenAddrs = [Multiaddr(ip4: (127, 0, 0, 1), port: relayAddr.port)]
        relay = RelayServer(host: relayHost, config: RelayConfig(), policy: try Policy.parse(text: policyText), logger: logger)
        relay.start()
        relaysStarted += 1
    }

    func stopRelay() {
        relay.stop()
        relayHost.shutdown()
    }

    private func service(_ name: String, target: SocketAddress) -> ServicePeer {
        let logger = labLogger(name)
        let s = ServicePeer(name: name, host: AirlockIO.Host(loop: loop, identity: keys[name]!, logger: logger), target: target,
                            relay: relayAddr, relayPeer: relayHost.peerID, logger: logger)
        s.start()
        return s
    }

    private func labLogger(_ component: String) -> Logger { LabSupport.logger(component, into: logs) }

    /// Polls `condition` on the loop every 20 ms until it holds; throws after `timeout` seconds.
    func waitUntil(_ what: String, timeout: Double = 10, _ condition: @escaping @Sendable () -> Bool) async throws {
        try await LabSupport.waitUntil(loop, what, timeout: timeout, condition)
    }

    /// Stops everything and joins the loop thread.
    func shutdown() async {
        _ = try? await onLoop { [self] in
            shim?.stop()
            shim?.host.shutdown()
            for s in [web, other] { s?.stop(); s?.host.shutdown() }
            relay?.stop()
            relayHost?.shutdown()
            webServer?.close()
            otherServer?.close()
        }
        try? await Task.sleep(for: .milliseconds(50))
        thread.stopAndJoin()
    }

    // MARK: curl

    /// `curl -sS --max-time 10 ARGS…` with no proxy variables in its environment.
    func curl(_ args: [String]) async throws -> ShimLabCurl {
        try await ShimLabCurl.run(["-sS", "--max-time", "10"] + args)
    }

    func viaHTTP(_ url: String, _ extra: [String] = []) async throws -> ShimLabCurl {
        try await curl(extra + ["-x", "http://127.0.0.1:\(httpPort)", url])
    }

    func viaSOCKS(_ url: String, _ extra: [String] = []) async throws -> ShimLabCurl {
        try await curl(extra + ["--socks5-hostname", "127.0.0.1:\(socksPort)", url])
    }
}

struct ShimLabFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Log lines captured from every logger in the lab.
final class ShimLabLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    /// Lines with event `event` that contain every one of `parts`.
    func lines(_ event: String, _ parts: String...) -> [String] {
        lines.withLock { $0 }.filter { l in l.contains(" \(event) ") && parts.allSatisfy { l.contains($0) } }
    }
}

/// One finished curl run.
struct ShimLabCurl: Sendable, CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String

    var description: String { "curl exit \(status), stdout \(stdout.debugDescription), stderr \(stderr.debugDescription)" }

    /// Runs curl on a plain thread (not the test's cooperative pool) and waits for it.
    static func run(_ args: [String]) async throws -> ShimLabCurl {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<ShimLabCurl, any Error>) in
            let thread = Thread {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                p.arguments = args
                p.environment = ["PATH": "/usr/bin:/bin"]
                let out = Pipe(), err = Pipe()
                p.standardOutput = out
                p.standardError = err
                p.standardInput = FileHandle.nullDevice
                do { try p.run() } catch { c.resume(throwing: error); return }
                // Outputs are small; read stdout to its end first, then stderr.
                let o = out.fileHandleForReading.readDataToEndOfFile()
                let e = err.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                c.resume(returning: ShimLabCurl(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                                                stderr: String(decoding: e, as: UTF8.self)))
            }
            thread.start()
        }
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (or another loopback address). Reads a request head and,
/// when it names a `Content-Length`, that many body bytes; then answers `200 OK` and closes. The
/// answer is `body`, or for a path `/big/N`, N bytes of a repeating pattern. Remembers the heads
/// and bodies it saw, and counts the connections it accepted.
final class ShimLabHTTPServer {
    let listener: TCPListener
    let body: String
    var heads: [String] = []
    var bodies: [[UInt8]] = []
    private(set) var accepted = 0

    init(loop: EventLoop, body: String, on address: SocketAddress = .loopbackV4(port: 0)) throws {
        self.body = body
        listener = try TCPListener(on: address, loop: loop)
        listener.onAccept = { [unowned self] socket in
            accepted += 1
            guard let c = try? TCPConnection(socket: socket, loop: loop) else { return }
            serve(c)
        }
    }

    var address: SocketAddress { listener.address }

    func close() { listener.close() }

    static func pattern(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 % 251) } }

    private func serve(_ c: TCPConnection) {
        var bytes: [UInt8] = []
        var answered = false
        c.onRead = { [unowned self, unowned c] raw in
            guard !answered else { return }
            bytes += raw
            guard let end = ShimLabHTTPServer.headEnd(bytes) else { return }
            let head = String(decoding: bytes[..<end], as: UTF8.self)
            let want = ShimLabHTTPServer.contentLength(head)
            guard bytes.count - end >= want else { return }
            answered = true
            heads.append(head)
            bodies.append(Array(bytes[end...]))
            let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let payload: [UInt8] = path.hasPrefix("/big/") ? ShimLabHTTPServer.pattern(Int(path.dropFirst(5)) ?? 0) : Array(body.utf8)
            c.write(Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n".utf8))
            c.write(payload)
            c.shutdownWrite()
        }
        c.onEOF = {}
    }

    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    static func contentLength(_ head: String) -> Int {
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            return Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }
}
