#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct TCPConnectionTests {
        /// Many clients at once, each sending 100 kB through an echo server and checking every
        /// byte that comes back, then half-closing; both ends must close cleanly.
        @Test func echoesOverManyConnections() async throws {
            let clients = 200, size = 100_000
            let failures: Int = try await onLoop(timeout: .seconds(60)) { loop, done in
                let listener = try! TCPListener(on: .loopbackV4(port: 0), loop: loop)
                listener.onAccept = { s in
                    let c = try! TCPConnection(socket: s, loop: loop)
                    c.onRead = { c.write($0) }
                    c.onEOF = { c.shutdownWrite() }
                }
                var finished = 0, failures = 0
                for _ in 0..<clients {
                    let c = TCPConnection.connect(to: listener.address, on: loop)
                    var sent = 0, received = 0
                    let pump = {
                        while sent < size && c.isWritable {
                            let k = min(16_384, size - sent)
                            Pattern.withWindow(offset: sent, count: k) { c.write($0) }
                            sent += k
                        }
                        if sent == size { c.shutdownWrite() }
                    }
                    c.onConnect = pump
                    c.onWritable = pump
                    c.onRead = { chunk in
                        if !Pattern.matches(chunk, offset: received) { failures += 1 }
                        received += chunk.count
                    }
                    c.onEOF = {}
                    c.onClose = { error in
                        if error != nil || received != size { failures += 1 }
                        finished += 1
                        if finished == clients { done(.success(failures)) }
                    }
                }
            }
            #expect(failures == 0)
        }

        struct TransferStats: Sendable {
            var received = 0, patternOK = true, sawBackPressure = false, maxQueued = 0, writableCalls = 0
            var writerClose: Errno?? = .none, readerPauses = 0, readerDone = false
        }

        /// 64 MiB to a reader that keeps pausing: the writer must see `isWritable` turn false,
        /// its queue must stay near the high-water mark, and every byte must arrive in order.
        @Test func slowReaderPushesBackOnTheWriter() async throws {
            let total = 64 << 20, chunk = 64 * 1024
            let stats: TransferStats = try await onLoop(timeout: .seconds(120)) { loop, done in
                var st = TransferStats()
                let listener = try! TCPListener(on: .loopbackV4(port: 0), loop: loop)
                try! listener.socket.setReceiveBufferSize(32 * 1024)   // inherited by accepted sockets
                listener.onAccept = { s in
                    let r = try! TCPConnection(socket: s, loop: loop)
                    var sincePause = 0
                    r.onRead = { bytes in
                        st.patternOK = st.patternOK && Pattern.matches(bytes, offset: st.received)
                        st.received += bytes.count
                        sincePause += bytes.count
                        if sincePause >= 512 * 1024 {
                            sincePause = 0
                            st.readerPauses += 1
                            r.pauseReading()
                            loop.schedule(after: .milliseconds(2)) { r.resumeReading() }
                        }
                    }
                    r.onEOF = {
                        r.close()
                        st.readerDone = true
                        if st.writerClose != nil { done(.success(st)) }
                    }
                }
                let w = TCPConnection.connect(to: listener.address, on: loop)
                try! w.socket.setSendBufferSize(32 * 1024)
                var sent = 0
                let pump = {
                    while sent < total {
                        guard w.isWritable else { st.sawBackPressure = true; return }
                        let k = min(chunk, total - sent)
                        Pattern.withWindow(offset: sent, count: k) { w.write($0) }
                        sent += k
                        st.maxQueued = max(st.maxQueued, w.outputQueued)
                    }
                    w.shutdownWrite()
                }
                w.onConnect = pump
                w.onWritable = { st.writableCalls += 1; pump() }
                // Done once both ends are: the writer's close follows the reader's, however late.
                w.onClose = { st.writerClose = .some($0); if st.readerDone { done(.success(st)) } }
            }
            #expect(stats.received == total)
            #expect(stats.patternOK)
            #expect(stats.sawBackPressure)
            #expect(stats.writableCalls > 0)
            #expect(stats.readerPauses >= 100)
            // One write may overshoot the mark by at most its own size.
            #expect(stats.maxQueued <= 256 * 1024 + chunk)
            #expect(stats.writerClose == .some(nil))
        }

        @Test(arguments: [SocketAddress.loopbackV4(port: 0), .loopbackV6(port: 0)])
        func connectToAClosedPortReportsECONNREFUSED(_ any: SocketAddress) async throws {
            let listener = try Socket.listenTCP(on: any)
            let address = try listener.localAddress()
            listener.close()
            let (error, connected): (Errno?, Bool) = try await onLoop { loop, done in
                let c = TCPConnection.connect(to: address, on: loop)
                var connected = false
                c.onConnect = { connected = true }
                c.onClose = { done(.success(($0, connected))) }
            }
            #expect(error == .ECONNREFUSED)
            #expect(!connected)
        }

        /// The client writes and half-closes before the connect even completes; the server reads
        /// to EOF, answers and half-closes; both then close with no error.
        @Test func halfCloseInBothDirections() async throws {
            struct Outcome: Sendable { var serverGot: [UInt8] = [], clientGot: [UInt8] = [], serverClose: Errno?? = .none, clientClose: Errno?? = .none }
            let o: Outcome = try await onLoop { loop, done in
                var o = Outcome()
                let check = { if o.serverClose != nil && o.clientClose != nil { done(.success(o)) } }
                let listener = try! TCPListener(on: .loopbackV4(port: 0), loop: loop)
                listener.onAccept = { s in
                    let c = try! TCPConnection(socket: s, loop: loop)
                    c.onRead = { o.serverGot += $0 }
                    c.onEOF = {
                        #expect(c.inputClosed && c.state == .open)
                        c.write(Array("pong".utf8))
                        c.shutdownWrite()
                    }
                    c.onClose = { o.serverClose = .some($0); check() }
                }
                let c = TCPConnection.connect(to: listener.address, on: loop)
                #expect(c.state == .connecting)
                c.write(Array("ping".utf8))
                c.shutdownWrite()
                c.onRead = { o.clientGot += $0 }
                c.onEOF = {}
                c.onClose = { o.clientClose = .some($0); check() }
            }
            #expect(o.serverGot == Array("ping".utf8))
            #expect(o.clientGot == Array("pong".utf8))
            #expect(o.serverClose == .some(nil))
            #expect(o.clientClose == .some(nil))
        }

        /// `close(afterFlush: true)` with megabytes still queued: all of it arrives, then EOF.
        @Test func closeAfterFlushDeliversTheQueueFirst() async throws {
            let total = 4 << 20
            let (received, ok, queuedAtClose): (Int, Bool, Int) = try await onLoop { loop, done in
                let listener = try! TCPListener(on: .loopbackV4(port: 0), loop: loop)
                var queuedAtClose = 0
                listener.onAccept = { s in
                    let c = try! TCPConnection(socket: s, loop: loop)
                    try! c.socket.setSendBufferSize(16 * 1024)
                    var sent = 0
                    while sent < total {
                        Pattern.withWindow(offset: sent, count: 65_536) { c.write($0) }
                        sent += 65_536
                    }
                    queuedAtClose = c.outputQueued
                    c.close(afterFlush: true)
                    c.write([1, 2, 3])   // dropped: output is closing
                }
                let c = TCPConnection.connect(to: listener.address, on: loop)
                var received = 0, ok = true
                c.onRead = { ok = ok && Pattern.matches($0, offset: received); received += $0.count }
                c.onEOF = { c.close() }
                c.onClose = { _ in done(.success((received, ok, queuedAtClose))) }
            }
            #expect(queuedAtClose > 0)
            #expect(received == total)
            #expect(ok)
        }

        /// A peer that aborts (RST) is reported as `onClose(ECONNRESET)`.
        @Test func resetByPeerIsReportedAsAnError() async throws {
            let error: Errno? = try await onLoop { loop, done in
                let listener = try! TCPListener(on: .loopbackV4(port: 0), loop: loop)
                listener.onAccept = { s in
                    var abort = linger(l_onoff: 1, l_linger: 0)   // close sends RST
                    setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
                    s.close()
                }
                let c = TCPConnection.connect(to: listener.address, on: loop)
                c.onEOF = { done(.failure(LoopTimeout())) }
                c.onClose = { done(.success($0)) }
            }
            #expect(error == .ECONNRESET)
        }

        /// Idle connections cost little of our own memory: the read buffer is per loop and the
        /// output queue allocates only under back-pressure.
        @Test func idleConnectionsStaySmall() async throws {
            try raiseOpenFileLimit()
            let pairs = 500
            let perConnection: Int = try await onLoop(timeout: .seconds(60)) { loop, done in
                let listener = try! TCPListener(on: .loopbackV4(port: 0), loop: loop)
                var accepted = 0, connected = 0
                let before = HeapStats.bytesInUse()
                let check = {
                    if accepted == pairs && connected == pairs {
                        let after = HeapStats.bytesInUse()
                        done(.success((Int(after) - Int(before)) / (2 * pairs)))
                    }
                }
                listener.onAccept = { s in
                    let c = try! TCPConnection(socket: s, loop: loop)
                    c.onRead = { _ in }
                    c.onClose = { _ in }
                    accepted += 1
                    check()
                }
                for _ in 0..<pairs {
                    let c = TCPConnection.connect(to: listener.address, on: loop)
                    c.onRead = { _ in }
                    c.onClose = { _ in }
                    c.onConnect = { connected += 1; check() }
                }
            }
            print("heap bytes per idle connection: \(perConnection)")
            #expect(perConnection < 2048)
        }
    }
}
