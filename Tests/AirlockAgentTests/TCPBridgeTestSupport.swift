#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
@testable import AirlockAgent

/// Loop-thread helpers for the bridge tests (names prefixed so they cannot clash with other
/// helpers in this test target).
enum BridgeHarness {
    struct Timeout: Error, CustomStringConvertible {
        var description: String { "test timed out on the event loop" }
    }

    struct Failure: Error, CustomStringConvertible {
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

    /// Runs `body` on a fresh loop thread until it calls `done` (or `timeout` passes); the loop
    /// is stopped and joined afterwards, which frees everything still registered.
    static func onLoop<T: Sendable>(timeout: Duration = .seconds(60),
                                    _ body: @escaping @Sendable (EventLoop, @escaping @Sendable (Result<T, any Error>) -> Void) -> Void) async throws -> T {
        let thread = try EventLoopThread(name: "bridge-test")
        defer { thread.stopAndJoin() }
        let loop = thread.loop
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let once = Once(c)
            loop.execute {
                loop.schedule(after: timeout) { once.finish(.failure(Timeout())) }
                body(loop, { once.finish($0) })
            }
        }
    }

    /// Closes `c` with an RST instead of a FIN.
    static func abort(_ c: TCPConnection) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(c.socket.fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        c.close()
    }
}

/// A repeating byte pattern (period 251, prime, so it never lines up with buffer sizes).
enum BridgePattern {
    static let period = 251
    static let bytes: [UInt8] = (0..<(256 * 1024 + period)).map { UInt8($0 % period) }

    static func withWindow<R>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(count <= bytes.count - period)
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[(offset % period)..<(offset % period + count)])) }
    }

    static func matches(_ chunk: UnsafeRawBufferPointer, offset: Int) -> Bool {
        withWindow(offset: offset, count: chunk.count) { memcmp($0.baseAddress!, chunk.baseAddress!, chunk.count) == 0 }
    }

    static func prefix(_ n: Int) -> [UInt8] { Array(bytes[0..<n]) }
}

/// One end of a plain TCP connection in a test: sends `total` pattern bytes (from `startOffset`)
/// as its queue allows and then FIN, checks what arrives against the pattern.
final class TCPPatternPeer {
    let conn: TCPConnection
    let total: Int
    var sent: Int
    var received = 0
    var corrupt = false
    var eof = false
    var closed = false
    var closeError: Errno?
    var finSent = false
    var onClosed: (() -> Void)?
    /// When set, the peer reads one chunk per tick of this period (a slow reader).
    var readEvery: Duration?
    private var readTimer: TimerID?

    init(_ c: TCPConnection, total: Int, startOffset: Int = 0) {
        conn = c
        self.total = total
        sent = startOffset
        c.onRead = { [unowned self] raw in
            if !BridgePattern.matches(raw, offset: received) { corrupt = true }
            received += raw.count
            if readEvery != nil { conn.pauseReading() }
        }
        c.onEOF = { [unowned self] in eof = true }
        c.onWritable = { [unowned self] in pump() }
        c.onClose = { [self] e in
            closed = true
            closeError = e
            if let t = readTimer { conn.loop.cancel(t) }
            onClosed?()
        }
    }

    func startSlowReading(every period: Duration) {
        readEvery = period
        conn.pauseReading()
        tick()
    }

    private func tick() {
        guard !closed, let period = readEvery else { return }
        conn.resumeReading()
        readTimer = conn.loop.schedule(after: period) { [weak self] in self?.tick() }
    }

    func pump() {
        while sent < total && conn.isWritable {
            let n = min(64 * 1024, total - sent)
            BridgePattern.withWindow(offset: sent, count: n) { conn.write($0) }
            sent += n
        }
        if sent == total && !finSent {
            finSent = true
            conn.shutdownWrite()
        }
    }
}

/// Two hosts over loopback joined by bridges: client TCP → shim listener → bridge → stream
/// (`/airlock/tcp/1.0.0`) → service host → bridge → TCP connect to `target`.
final class BridgeRig {
    static let proto = "/airlock/tcp/1.0.0"
    let loop: EventLoop
    let service: Host
    let shim: Host
    let shimListener: TCPListener
    var serviceBridges: [TCPBridge] = []
    var shimBridges: [TCPBridge] = []
    var finishedBridges = 0
    var onBridgeFinished: (() -> Void)?
    var onError: ((String) -> Void)?
    /// The rig keeps itself alive until `release()` (tests hold no reference across turns).
    private var keepAlive: BridgeRig?

    /// - Parameters:
    ///   - target: where the service side connects for each stream.
    ///   - initialPayload: handed to each shim-side bridge (a handshake's leftover).
    ///   - serviceStartDelay: how long the service side waits before starting its bridge, so
    ///     the stream's data and FIN can arrive before it.
    init(loop: EventLoop, target: SocketAddress, initialPayload: [UInt8] = [], serviceStartDelay: Duration? = nil,
         ready: @escaping (BridgeRig) -> Void) throws {
        self.loop = loop
        service = Host(loop: loop, identity: Ed25519PrivateKey())
        shim = Host(loop: loop, identity: Ed25519PrivateKey())
        shimListener = try TCPListener(on: .loopbackV4(port: 0), loop: loop)
        service.handle(Self.proto) { [weak self] s in
            let t = TCPConnection.connect(to: target, on: loop)
            let b = TCPBridge(tcp: t, stream: s)
            b.onFinish = { [weak self] _ in self?.bridgeFinished() }
            self?.serviceBridges.append(b)
            if let delay = serviceStartDelay {
                loop.schedule(after: delay) { b.start() }
            } else {
                b.start()
            }
        }
        let addr = try service.listen(on: .loopbackV4(port: 0))
        shim.dial(addr, expect: service.peerID) { [weak self] r in
            guard let self else { return }
            guard case .success(let c) = r else { onError?("dial failed: \(r)"); return }
            shimListener.onAccept = { [weak self] socket in
                guard let self else { return }
                guard let t = try? TCPConnection(socket: socket, loop: loop) else { return }
                // Hold the client's bytes in the kernel until the stream is ready.
                t.pauseReading()
                c.openStream(Self.proto) { [weak self] r in
                    guard let self else { return }
                    guard case .success(let s) = r else { onError?("open failed: \(r)"); return }
                    let b = TCPBridge(tcp: t, stream: s, initialPayload: initialPayload)
                    b.onFinish = { [weak self] _ in self?.bridgeFinished() }
                    shimBridges.append(b)
                    b.start()
                }
            }
            ready(self)
        }
        keepAlive = self
    }

    func release() {
        service.shutdown()
        shim.shutdown()
        shimListener.close()
        keepAlive = nil
    }

    private func bridgeFinished() {
        finishedBridges += 1
        onBridgeFinished?()
    }

    func connectClient() -> TCPConnection {
        TCPConnection.connect(to: shimListener.address, on: loop)
    }
}

/// A TCP server on 127.0.0.1 that hands each accepted connection to `onConnection`.
final class BridgeTestServer {
    let listener: TCPListener
    var onConnection: ((TCPConnection) -> Void)?

    init(loop: EventLoop) throws {
        listener = try TCPListener(on: .loopbackV4(port: 0), loop: loop)
        // Strong on purpose: the listener (kept by the loop) keeps its server alive for the test.
        listener.onAccept = { [self] socket in
            guard let c = try? TCPConnection(socket: socket, loop: loop) else { return }
            onConnection?(c)
        }
    }

    var address: SocketAddress { listener.address }
}
