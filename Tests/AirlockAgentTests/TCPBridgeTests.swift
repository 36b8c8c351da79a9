#if canImport(Glibc)
import Glibc
#endif
import Testing
import AirlockCore
import AirlockIO
@testable import AirlockAgent

/// End to end on a real loop: client TCP → shim bridge → yamux stream over Noise → service
/// bridge → TCP server, all on 127.0.0.1. Serialized: each moves megabytes and measures bounds.
@Suite(.serialized) struct TCPBridgeTests {
    /// How a reset test ended: the far TCP peer's close error and each bridge's outcome.
    struct Ends: Equatable, Sendable {
        var peer: Errno?
        var shim: TCPBridge.Outcome?
        var service: TCPBridge.Outcome?
    }

    /// 8 MiB each way at once, byte-exact, each direction ending with FIN. The client's first
    /// 5000 bytes reach the shim bridge as its initial payload (a handshake's leftover) and must
    /// arrive first, in order.
    @Test func eightMiBEachWayWithInitialPayload() async throws {
        let total = 8 << 20
        let initial = 5000
        let result: String = try await BridgeHarness.onLoop(timeout: .seconds(120)) { loop, done in
            do {
                let server = try BridgeTestServer(loop: loop)
                var serverPeer: TCPPatternPeer?
                var clientPeer: TCPPatternPeer?
                var rig: BridgeRig?
                func check() {
                    guard let rig, let s = serverPeer, let c = clientPeer, s.closed, c.closed, rig.finishedBridges == 2 else { return }
                    let bridges = rig.shimBridges + rig.serviceBridges
                    var facts: [String] = []
                    facts.append("client got \(c.received) corrupt=\(c.corrupt) eof=\(c.eof) err=\(String(describing: c.closeError))")
                    facts.append("server got \(s.received) corrupt=\(s.corrupt) eof=\(s.eof) err=\(String(describing: s.closeError))")
                    facts.append("outcomes \(bridges.map { String(describing: $0.outcome) })")
                    facts.append("shim toStream=\(rig.shimBridges[0].bytesToStream) toTCP=\(rig.shimBridges[0].bytesToTCP)")
                    facts.append("service toStream=\(rig.serviceBridges[0].bytesToStream) toTCP=\(rig.serviceBridges[0].bytesToTCP)")
                    facts.append("pending ok=\(bridges.allSatisfy { $0.peakPending <= TCPBridge.pendingCap })")
                    rig.release()
                    done(.success(facts.joined(separator: "\n")))
                }
                server.onConnection = { conn in
                    let p = TCPPatternPeer(conn, total: total)
                    p.onClosed = check
                    serverPeer = p
                    p.pump()
                }
                rig = try BridgeRig(loop: loop, target: server.address, initialPayload: BridgePattern.prefix(initial)) { rig in
                    let conn = rig.connectClient()
                    let p = TCPPatternPeer(conn, total: total, startOffset: initial)
                    p.onClosed = check
                    clientPeer = p
                    conn.onConnect = { p.pump() }
                }
                rig?.onBridgeFinished = check
                rig?.onError = { done(.failure(BridgeHarness.Failure($0))) }
            } catch { done(.failure(error)) }
        }
        let t = total
        #expect(result == """
            client got \(t) corrupt=false eof=true err=nil
            server got \(t) corrupt=false eof=true err=nil
            outcomes ["Optional(AirlockAgent.TCPBridge.Outcome.completed)", "Optional(AirlockAgent.TCPBridge.Outcome.completed)"]
            shim toStream=\(t) toTCP=\(t)
            service toStream=\(t) toTCP=\(t)
            pending ok=true
            """)
    }

    /// The client half-closes after "hello"; the server sees EOF, then still answers "bye" on
    /// the other half, and only then closes. Both bridges end as completed. With `lateStart` the
    /// service bridge starts only after the stream's data and FIN have arrived.
    @Test(arguments: [false, true]) func halfClosePropagatesEachWay(lateStart: Bool) async throws {
        let result: String = try await BridgeHarness.onLoop(timeout: .seconds(20)) { loop, done in
            do {
                let server = try BridgeTestServer(loop: loop)
                var log: [String] = []
                var rig: BridgeRig?
                var closed = 0
                func check() {
                    guard let rig, closed == 2, rig.finishedBridges == 2 else { return }
                    log.append("outcomes \((rig.shimBridges + rig.serviceBridges).map { $0.outcome == .completed })")
                    rig.release()
                    done(.success(log.joined(separator: "; ")))
                }
                server.onConnection = { conn in
                    var got: [UInt8] = []
                    conn.onRead = { got += $0 }
                    conn.onEOF = {
                        log.append("server eof after \(String(decoding: got, as: UTF8.self))")
                        conn.write(Array("bye".utf8))
                        conn.shutdownWrite()
                    }
                    conn.onClose = { e in log.append("server closed \(String(describing: e))"); closed += 1; check() }
                }
                rig = try BridgeRig(loop: loop, target: server.address, serviceStartDelay: lateStart ? .milliseconds(50) : nil) { rig in
                    let conn = rig.connectClient()
                    var got: [UInt8] = []
                    conn.onConnect = {
                        conn.write(Array("hello".utf8))
                        conn.shutdownWrite()
                    }
                    conn.onRead = { got += $0 }
                    conn.onEOF = { log.append("client eof after \(String(decoding: got, as: UTF8.self))") }
                    conn.onClose = { e in log.append("client closed \(String(describing: e))"); closed += 1; check() }
                }
                rig?.onBridgeFinished = check
                rig?.onError = { done(.failure(BridgeHarness.Failure($0))) }
            } catch { done(.failure(error)) }
        }
        // The order across the two TCP connections may vary in the closing lines; the EOFs may not.
        let parts = result.split(separator: "; ").map(String.init)
        #expect(parts.first == "server eof after hello")
        #expect(parts.contains("client eof after bye"))
        #expect(parts.contains("server closed nil"))
        #expect(parts.contains("client closed nil"))
        #expect(parts.last == "outcomes [true, true]")
    }

    /// The server resets its connection mid-transfer: the client must see a reset too (not a
    /// clean EOF that would pass a cut transfer off as complete).
    @Test func serverResetReachesTheClientAsReset() async throws {
        let result: Ends = try await BridgeHarness.onLoop { loop, done in
            do {
                let server = try BridgeTestServer(loop: loop)
                var rig: BridgeRig?
                var clientError: Errno??
                func check() {
                    guard let rig, let clientError, rig.finishedBridges == 2 else { return }
                    let ends = Ends(peer: clientError, shim: rig.shimBridges[0].outcome, service: rig.serviceBridges[0].outcome)
                    rig.release()
                    done(.success(ends))
                }
                server.onConnection = { conn in
                    var got = 0
                    conn.onRead = { raw in
                        got += raw.count
                        if got >= 100_000 { BridgeHarness.abort(conn) }
                    }
                }
                rig = try BridgeRig(loop: loop, target: server.address) { rig in
                    let conn = rig.connectClient()
                    let p = TCPPatternPeer(conn, total: 4 << 20)
                    p.onClosed = { clientError = .some(p.closeError); check() }
                    conn.onConnect = { p.pump() }
                }
                rig?.onBridgeFinished = check
                rig?.onError = { done(.failure(BridgeHarness.Failure($0))) }
            } catch { done(.failure(error)) }
        }
        #expect(result == Ends(peer: .ECONNRESET, shim: .streamFailed(.reset), service: .tcpFailed(.ECONNRESET)))
    }

    /// The client resets: the server's connection is reset too.
    @Test func clientResetReachesTheServerAsReset() async throws {
        let result: Ends = try await BridgeHarness.onLoop { loop, done in
            do {
                let server = try BridgeTestServer(loop: loop)
                var rig: BridgeRig?
                var serverError: Errno??
                func check() {
                    guard let rig, let serverError, rig.finishedBridges == 2 else { return }
                    let ends = Ends(peer: serverError, shim: rig.shimBridges[0].outcome, service: rig.serviceBridges[0].outcome)
                    rig.release()
                    done(.success(ends))
                }
                server.onConnection = { conn in
                    let p = TCPPatternPeer(conn, total: 4 << 20)
                    p.onClosed = { serverError = .some(p.closeError); check() }
                    p.pump()
                }
                rig = try BridgeRig(loop: loop, target: server.address) { rig in
                    let conn = rig.connectClient()
                    var got = 0
                    conn.onRead = { raw in
                        got += raw.count
                        if got >= 100_000 { BridgeHarness.abort(conn) }
                    }
                }
                rig?.onBridgeFinished = check
                rig?.onError = { done(.failure(BridgeHarness.Failure($0))) }
            } catch { done(.failure(error)) }
        }
        #expect(result == Ends(peer: .ECONNRESET, shim: .tcpFailed(.ECONNRESET), service: .streamFailed(.reset)))
    }

    /// Nothing listens at the service's target: the connect fails, the stream is reset and the
    /// client's connection is reset.
    @Test func refusedTargetResetsTheClient() async throws {
        let result: Ends = try await BridgeHarness.onLoop { loop, done in
            do {
                // A port that was just free: bind, read it back, close.
                let probe = try TCPListener(on: .loopbackV4(port: 0), loop: loop)
                let closedPort = probe.address
                probe.close()
                var rig: BridgeRig?
                rig = try BridgeRig(loop: loop, target: closedPort) { rig in
                    let conn = rig.connectClient()
                    conn.onConnect = { conn.write(Array("GET / HTTP/1.0\r\n\r\n".utf8)) }
                    conn.onClose = { e in
                        let ends = Ends(peer: e, shim: rig.shimBridges.first?.outcome, service: rig.serviceBridges.first?.outcome)
                        rig.release()
                        done(.success(ends))
                    }
                }
                rig?.onError = { done(.failure(BridgeHarness.Failure($0))) }
            } catch { done(.failure(error)) }
        }
        #expect(result.peer == .ECONNRESET)
        #expect(result.service == .tcpFailed(.ECONNREFUSED))
    }

    /// A slow TCP reader at the service end: the service bridge holds stream credit once its TCP
    /// queue passes the high-water mark, the shim's stream window runs dry, and the shim bridge
    /// pauses its client. Nothing buffers beyond its cap, and every byte still arrives.
    @Test func slowReaderKeepsBuffersBounded() async throws {
        let total = 8 << 20
        let result: String = try await BridgeHarness.onLoop(timeout: .seconds(120)) { loop, done in
            do {
                let server = try BridgeTestServer(loop: loop)
                var rig: BridgeRig?
                var serverPeer: TCPPatternPeer?
                var clientPeer: TCPPatternPeer?
                func check() {
                    guard let rig, let s = serverPeer, let c = clientPeer, s.closed, c.closed, rig.finishedBridges == 2 else { return }
                    let shim = rig.shimBridges[0], service = rig.serviceBridges[0]
                    let tcpBound = service.tcp.highWaterMark + 256 * 1024 + 64 * 1024
                    let facts = [
                        "server got \(s.received == total) corrupt=\(s.corrupt)",
                        "shim pending engaged=\(shim.peakPending > 0) bounded=\(shim.peakPending <= TCPBridge.pendingCap)",
                        "service queue engaged=\(service.peakTCPQueued >= service.tcp.highWaterMark) bounded=\(service.peakTCPQueued <= tcpBound)",
                        "outcomes \(shim.outcome == .completed) \(service.outcome == .completed)",
                    ]
                    rig.release()
                    done(.success(facts.joined(separator: "\n")))
                }
                server.onConnection = { conn in
                    try? conn.socket.setReceiveBufferSize(16 * 1024)
                    let p = TCPPatternPeer(conn, total: 0)
                    p.onClosed = check
                    serverPeer = p
                    p.pump()  // nothing to send: FIN at once
                    p.startSlowReading(every: .microseconds(500))
                }
                rig = try BridgeRig(loop: loop, target: server.address) { rig in
                    let conn = rig.connectClient()
                    let p = TCPPatternPeer(conn, total: total)
                    p.onClosed = check
                    clientPeer = p
                    conn.onConnect = { p.pump() }
                }
                rig?.onBridgeFinished = check
                rig?.onError = { done(.failure(BridgeHarness.Failure($0))) }
            } catch { done(.failure(error)) }
        }
        #expect(result == """
            server got true corrupt=false
            shim pending engaged=true bounded=true
            service queue engaged=true bounded=true
            outcomes true true
            """)
    }

    /// An initial payload larger than one read is held whole, goes first, and the rest follows.
    @Test func largeInitialPayloadGoesFirst() async throws {
        let total = 1 << 20
        let initial = 100_000
        let result: String = try await BridgeHarness.onLoop { loop, done in
            do {
                let server = try BridgeTestServer(loop: loop)
                var rig: BridgeRig?
                server.onConnection = { conn in
                    let p = TCPPatternPeer(conn, total: 0)
                    p.pump()
                    p.onClosed = {
                        rig?.release()
                        done(.success("\(p.received) corrupt=\(p.corrupt) eof=\(p.eof)"))
                    }
                }
                rig = try BridgeRig(loop: loop, target: server.address, initialPayload: BridgePattern.prefix(initial)) { rig in
                    let conn = rig.connectClient()
                    let p = TCPPatternPeer(conn, total: total, startOffset: initial)
                    conn.onConnect = { p.pump() }
                }
                rig?.onError = { done(.failure(BridgeHarness.Failure($0))) }
            } catch { done(.failure(error)) }
        }
        #expect(result == "\(total) corrupt=false eof=true")
    }

    /// The libp2p connection under the streams goes away mid-transfer: both TCP ends are reset.
    @Test func connectionLossResetsBothEnds() async throws {
        let result: Ends = try await BridgeHarness.onLoop { loop, done in
            do {
                let server = try BridgeTestServer(loop: loop)
                var rig: BridgeRig?
                var clientError: Errno??
                var serverError: Errno??
                func check() {
                    guard let rig, let clientError, let serverError, rig.finishedBridges == 2 else { return }
                    let ends = Ends(peer: clientError == serverError ? clientError : nil,
                                    shim: rig.shimBridges[0].outcome, service: rig.serviceBridges[0].outcome)
                    rig.release()
                    done(.success(ends))
                }
                server.onConnection = { conn in
                    let p = TCPPatternPeer(conn, total: 0)
                    p.onClosed = { serverError = .some(p.closeError); check() }
                    var got = 0
                    conn.onRead = { raw in
                        got += raw.count
                        if got >= 100_000, got - raw.count < 100_000 { rig?.service.shutdown() }
                    }
                }
                rig = try BridgeRig(loop: loop, target: server.address) { rig in
                    let conn = rig.connectClient()
                    let p = TCPPatternPeer(conn, total: 4 << 20)
                    p.onClosed = { clientError = .some(p.closeError); check() }
                    conn.onConnect = { p.pump() }
                }
                rig?.onBridgeFinished = check
                rig?.onError = { done(.failure(BridgeHarness.Failure($0))) }
            } catch { done(.failure(error)) }
        }
        #expect(result == Ends(peer: .ECONNRESET, shim: .streamFailed(.connectionClosed), service: .streamFailed(.connectionClosed)))
    }
}
