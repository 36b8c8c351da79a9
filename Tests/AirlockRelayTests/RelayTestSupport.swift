#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockWire
@testable import AirlockRelay

struct LoopTimeout: Error, CustomStringConvertible {
    var description: String { "test timed out on the event loop" }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Resolves a continuation at most once, from whichever thread gets there first.
final class Once<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>
    init(_ c: CheckedContinuation<T, any Error>) { continuation = Mutex(c) }
    func finish(_ r: Result<T, any Error>) {
        continuation.withLock { c in c?.resume(with: r); c = nil }
    }
}

/// Runs `body` on a fresh loop thread and waits until it calls `done` (or `timeout` passes).
func onLoop<T: Sendable>(timeout: Duration = .seconds(30),
                         _ body: @escaping @Sendable (EventLoop, @escaping @Sendable (Result<T, any Error>) -> Void) -> Void) async throws -> T {
    let thread = try EventLoopThread(name: "relay-test")
    defer { thread.stopAndJoin() }
    let loop = thread.loop
    return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let once = Once(c)
        loop.execute {
            loop.schedule(after: timeout) { once.finish(.failure(LoopTimeout())) }
            body(loop, { once.finish($0) })
        }
    }
}

/// Log lines captured from a logger's sink.
final class LogBox: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
    /// Lines with event `event` that contain every one of `parts`.
    func lines(_ event: String, _ parts: String...) -> [String] {
        all.filter { l in l.contains(" \(event) ") && parts.allSatisfy { l.contains($0) } }
    }
}

/// A repeating byte pattern (period 251) for checking large transfers without storing them.
enum Pattern {
    static let period = 251
    static let bytes: [UInt8] = (0..<(256 * 1024 + period)).map { UInt8($0 % period) }

    static func withWindow<R>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(count <= bytes.count - period)
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[(offset % period)..<(offset % period + count)])) }
    }

    static func matches(_ chunk: UnsafeRawBufferPointer, offset: Int) -> Bool {
        withWindow(offset: offset, count: chunk.count) { memcmp($0.baseAddress!, chunk.baseAddress!, chunk.count) == 0 }
    }
}

/// Sends `total` pattern bytes as the window allows, then half-closes (unless `close` is false);
/// checks what arrives against the pattern (raw mode).
final class PatternPump {
    let stream: Libp2pStream
    let total: Int
    let close: Bool
    var sent = 0
    var received = 0
    var corrupt = false
    var remoteDone = false
    var ended: Libp2pStream.End?
    var onDone: (() -> Void)?
    var onEnd: ((Libp2pStream.End) -> Void)?

    init(_ s: Libp2pStream, total: Int, close: Bool = true) {
        stream = s; self.total = total; self.close = close
        s.onWritable = { [unowned self] in pump() }
        s.onRemoteClose = { [unowned self] in remoteDone = true; check() }
        s.onEnd = { [unowned self] how in ended = how; onEnd?(how) }
        s.onData = { [unowned self] raw in
            if !Pattern.matches(raw, offset: received) { corrupt = true }
            received += raw.count
            stream.consume(raw.count)
        }
        if s.remoteClosed { remoteDone = true }
        pump()
    }

    func pump() {
        while sent < total {
            let n = min(64 * 1024, total - sent)
            let took = Pattern.withWindow(offset: sent, count: n) { stream.write($0) }
            sent += took
            if took < n { return }
        }
        if close { stream.closeWrite() }
        check()
    }

    func check() { if sent == total && remoteDone { onDone?() } }
}

/// A unix clock the test moves by hand.
final class TestClock {
    var now: Double = 1_700_000_000
}

/// A relay on 127.0.0.1 plus client identities, all on one loop. Identities: `svc`, `svc2`,
/// `svc3` (services, may reserve), `client` (a peer with rules to `svc` and `svc2`), and
/// `stranger` (not in the policy).
final class Lab {
    let loop: EventLoop
    let relayHost: Host
    let relay: RelayServer
    let relayAddr: SocketAddress
    let logs = LogBox()
    let clock = TestClock()
    let keys: [String: Ed25519PrivateKey]
    var hosts: [Host] = []
    let done: @Sendable (Result<String, any Error>) -> Void

    /// `ruleLimits` is JSON for the client → svc rule's `limits` (empty for none).
    init(loop: EventLoop, config: RelayConfig = RelayConfig(), ruleLimits: String = "",
         done: @escaping @Sendable (Result<String, any Error>) -> Void) {
        self.loop = loop
        self.done = done
        var k: [String: Ed25519PrivateKey] = [:]
        for n in ["svc", "svc2", "svc3", "client", "stranger"] { k[n] = Ed25519PrivateKey() }
        keys = k
        func id(_ n: String) -> String { PeerID(publicKey: k[n]!.publicKey).description }
        let limits = ruleLimits.isEmpty ? "" : #", "limits": \#(ruleLimits)"#
        let text = """
        { "version": 1,
          "services": { "svc": { "peer": "\(id("svc"))" }, "svc2": { "peer": "\(id("svc2"))" }, "svc3": { "peer": "\(id("svc3"))" } },
          "peers": { "client": { "peer": "\(id("client"))" } },
          "rules": [ { "from": "client", "to": "svc"\(limits) }, { "from": "client", "to": "svc2" } ] }
        """
        let policy = try! Policy.parse(text: text, file: "test-policy.json")
        let logger = Logger(component: "relay", minimum: .error, fd: -1)
        relayHost = Host(loop: loop, identity: Ed25519PrivateKey())
        relayAddr = try! relayHost.listen(on: .loopbackV4(port: 0))
        relayHost.listenAddrs = [Multiaddr(ip4: (127, 0, 0, 1), port: relayAddr.port)]
        let clock = self.clock
        relay = RelayServer(host: relayHost, config: config, policy: policy, logger: logger, now: { clock.now })
        let logs = self.logs
        logger.addSink { logs.append($0) }
        relay.start()
    }

    func peer(_ name: String) -> PeerID { PeerID(publicKey: keys[name]!.publicKey) }

    /// A new host with identity `name` (several hosts may share one identity).
    func host(_ name: String) -> Host {
        let h = Host(loop: loop, identity: keys[name]!)
        hosts.append(h)
        return h
    }

    func fail(_ why: String) { done(.failure(TestFailure(why))) }

    /// Dials the relay from `h`.
    func dial(_ h: Host, _ then: @escaping (Libp2pConnection) -> Void) {
        h.dial(relayAddr, expect: relayHost.peerID) { [self] r in
            switch r {
            case .success(let c): then(c)
            case .failure(let e): fail("dial failed: \(e)")
            }
        }
    }

    /// A new host `name` connected to the relay.
    func connect(_ name: String, _ then: @escaping (Host, Libp2pConnection) -> Void) {
        let h = host(name)
        dial(h) { c in then(h, c) }
    }

    /// A new host `name` that answers every STOP with OK and holds a reservation; then `then`.
    func reservedService(_ name: String, _ then: @escaping () -> Void) {
        connect(name) { [self] h, c in
            serveStop(on: h) { _, s in s.send(StopMessage.status(.ok).framed()) }
            ask(c, .reserve) { _, _ in then() }
        }
    }

    /// Opens a hop stream on `c`, writes `bytes` (a framed message, or anything), and reports the
    /// first framed answer; `.failure` if the stream ends or the answer does not decode.
    func hop(_ c: Libp2pConnection, _ bytes: [UInt8], _ then: @escaping (Result<(HopMessage, Libp2pStream), TestFailure>) -> Void) {
        c.openStream(ProtocolID.hop) { r in
            guard case .success(let s) = r else { then(.failure(TestFailure("hop open failed: \(r)"))); return }
            var answered = false
            s.onEnd = { how in if !answered { answered = true; then(.failure(TestFailure("hop stream ended: \(how)"))) } }
            s.onReadable = { [unowned s] in
                guard !answered else { return }
                do {
                    guard let body = try s.readMessage(cap: 4096) else { return }
                    answered = true
                    s.onReadable = nil
                    then(.success((try HopMessage(decoding: body[...]), s)))
                } catch {
                    answered = true
                    then(.failure(TestFailure("bad answer: \(error)")))
                }
            }
            s.send(bytes)
        }
    }

    /// `hop` with a message; fails the test unless an answer comes.
    func ask(_ c: Libp2pConnection, _ m: HopMessage, _ then: @escaping (HopMessage, Libp2pStream) -> Void) {
        hop(c, m.framed()) { [self] r in
            switch r {
            case .success(let (a, s)): then(a, s)
            case .failure(let e): fail("\(m.type) got no answer: \(e)")
            }
        }
    }

    /// Serves STOP on `h`: each stream's first message goes to `handler` (`nil` if it did not decode).
    func serveStop(on h: Host, _ handler: @escaping (StopMessage?, Libp2pStream) -> Void) {
        h.handle(ProtocolID.stop) { s in
            var seen = false
            s.onReadable = { [unowned s] in
                guard !seen else { return }
                do {
                    guard let body = try s.readMessage(cap: 4096) else { return }
                    seen = true
                    s.onReadable = nil
                    handler(try StopMessage(decoding: body[...]), s)
                } catch { seen = true; handler(nil, s) }
            }
        }
    }

    /// Calls `then` once `condition` holds (polled every 10 ms); fails after `within` seconds.
    func eventually(_ what: String, within: Double = 5, _ condition: @escaping () -> Bool, _ then: @escaping () -> Void) {
        let deadline = MonotonicTime.now().advanced(by: .milliseconds(Int64(within * 1000)))
        func poll() {
            if condition() { then(); return }
            if MonotonicTime.now() > deadline { fail("timed out waiting for: \(what)"); return }
            loop.schedule(after: .milliseconds(10)) { poll() }
        }
        poll()
    }

    /// Runs `then` after `seconds`.
    func after(_ seconds: Double, _ then: @escaping () -> Void) {
        loop.schedule(after: .milliseconds(Int64(seconds * 1000)), then)
    }
}

func config(_ f: (inout RelayConfig) -> Void) -> RelayConfig {
    var c = RelayConfig(); f(&c); return c
}

/// All relay server tests, one at a time: each opens sockets and several use short timeouts.
@Suite(.serialized) struct RelayTests {}
