import Testing
import AirlockCore
import AirlockCrypto
import AirlockWire
@testable import AirlockIO

/// Sends `total` pattern bytes on a stream as its window allows, then half-closes; checks what
/// arrives against the pattern (raw mode) and reports both ends.
final class PatternPump {
    let stream: Libp2pStream
    let total: Int
    var sent = 0
    var received = 0
    var corrupt = false
    var remoteDone = false
    var onDone: (() -> Void)?

    init(_ s: Libp2pStream, total: Int) {
        stream = s; self.total = total
        s.onData = { [unowned self] raw in
            if !Pattern.matches(raw, offset: received) { corrupt = true }
            received += raw.count
            stream.consume(raw.count)
        }
        s.onWritable = { [unowned self] in pump() }
        s.onRemoteClose = { [unowned self] in remoteDone = true; check() }
        pump()
    }

    func pump() {
        while sent < total {
            let n = min(64 * 1024, total - sent)
            let took = Pattern.withWindow(offset: sent, count: n) { stream.write($0) }
            sent += took
            if took < n { return }
        }
        stream.closeWrite()
        check()
    }

    func check() { if sent == total && remoteDone { onDone?() } }
}

extension IOTests {
    @Suite struct HostTests {
        @Test func dialPingIdentify() async throws {
            let result: String = try await onLoop { loop, done in
                let a = Host(loop: loop, identity: Ed25519PrivateKey())
                let b = Host(loop: loop, identity: Ed25519PrivateKey())
                let addr = try! a.listen(on: .loopbackV4(port: 0))
                b.dial(addr, expect: a.peerID) { r in
                    guard case .success(let c) = r else { done(.failure(StreamError("dial failed: \(r)"))); return }
                    b.ping(c) { p in
                        guard case .success = p else { done(.failure(StreamError("ping failed"))); return }
                        c.openStream(ProtocolID.identify) { r in
                            guard case .success(let s) = r else { done(.failure(StreamError("identify open failed"))); return }
                            s.onRemoteClose = { [unowned s] in
                                do {
                                    var buf = ByteBuffer(s.take())
                                    let m = try #require(try IdentifyMessage.read(from: &buf))
                                    let key = try Ed25519PublicKey(protobuf: m.publicKey ?? [])
                                    done(.success("\(PeerID(publicKey: key) == a.peerID) \(m.protocols.contains(ProtocolID.ping))"))
                                } catch { done(.failure(error)) }
                            }
                        }
                    }
                }
            }
            #expect(result == "true true")
        }

        @Test func wrongPeerIsRefusedAtDial() async throws {
            let result: String = try await onLoop { loop, done in
                let a = Host(loop: loop, identity: Ed25519PrivateKey())
                let b = Host(loop: loop, identity: Ed25519PrivateKey())
                let addr = try! a.listen(on: .loopbackV4(port: 0))
                let stranger = PeerID(publicKey: Ed25519PrivateKey().publicKey)
                b.dial(addr, expect: stranger) { r in
                    if case .failure(let e) = r { done(.success("\(e.code)")) } else { done(.success("connected")) }
                }
            }
            #expect(result == "peerMismatch")
        }

        @Test func sixteenMiBEachWayOverTCP() async throws {
            let total = 16 << 20
            let result: String = try await onLoop(timeout: .seconds(120)) { loop, done in
                let a = Host(loop: loop, identity: Ed25519PrivateKey())
                let b = Host(loop: loop, identity: Ed25519PrivateKey())
                var pumps: [PatternPump] = []
                var finished = 0
                func finish() {
                    finished += 1
                    guard finished == 2 else { return }
                    let ok = pumps.allSatisfy { $0.received == total && !$0.corrupt }
                    done(.success(ok ? "ok" : "bad \(pumps.map { ($0.received, $0.corrupt) })"))
                }
                a.handle("/test/xfer") { s in
                    let p = PatternPump(s, total: total); p.onDone = finish; pumps.append(p)
                }
                let addr = try! a.listen(on: .loopbackV4(port: 0))
                b.dial(addr, expect: a.peerID) { r in
                    guard case .success(let c) = r else { done(.failure(StreamError("dial failed"))); return }
                    c.openStream("/test/xfer") { r in
                        guard case .success(let s) = r else { done(.failure(StreamError("open failed"))); return }
                        let p = PatternPump(s, total: total); p.onDone = finish; pumps.append(p)
                    }
                }
            }
            #expect(result == "ok")
        }

        @Test func unsupportedProtocolFailsCleanly() async throws {
            let result: String = try await onLoop { loop, done in
                let a = Host(loop: loop, identity: Ed25519PrivateKey())
                let b = Host(loop: loop, identity: Ed25519PrivateKey())
                let addr = try! a.listen(on: .loopbackV4(port: 0))
                b.dial(addr, expect: a.peerID) { r in
                    guard case .success(let c) = r else { done(.failure(StreamError("dial failed"))); return }
                    c.openStream("/nope/1.0.0") { r in
                        switch r {
                        case .success: done(.success("opened"))
                        case .failure(let e): done(.success(e.description.contains("does not support") ? "refused" : e.description))
                        }
                    }
                }
            }
            #expect(result == "refused")
        }
    }
}

extension IOTests.HostTests {
    /// A lazy open sends the proposal and the first data in one write; the listener's handler must
    /// get that data even though it arrived with the proposal, and the echo must not leak into the
    /// dialer's data.
    @Test func lazyOpenDeliversDataSentWithTheProposal() async throws {
        let result: String = try await onLoop { loop, done in
            let a = Host(loop: loop, identity: Ed25519PrivateKey())
            let b = Host(loop: loop, identity: Ed25519PrivateKey())
            a.handle("/test/echo") { s in
                s.onReadable = { [unowned s] in s.send(s.take()) }
                s.onRemoteClose = { [unowned s] in s.closeWrite() }
            }
            let addr = try! a.listen(on: .loopbackV4(port: 0))
            b.dial(addr, expect: a.peerID) { r in
                guard case .success(let c) = r else { done(.failure(StreamError("dial failed"))); return }
                var got: [UInt8] = []
                var opened = false
                c.openStream("/test/echo", lazy: true) { r in
                    guard case .success(let s) = r else { done(.failure(StreamError("open failed"))); return }
                    opened = true
                    s.onData = { [unowned s] raw in got += raw; s.consume(raw.count) }
                    s.onRemoteClose = { done(.success(String(decoding: got, as: UTF8.self))) }
                    s.send(Array("hello, lazy".utf8))
                    s.closeWrite()
                }
                // The completion ran synchronously: the data left with the proposal.
                if !opened { done(.failure(StreamError("lazy open did not complete at once"))) }
            }
        }
        #expect(result == "hello, lazy")
    }

    @Test func lazyOpenOfAnUnsupportedProtocolResetsTheStream() async throws {
        let result: String = try await onLoop { loop, done in
            let a = Host(loop: loop, identity: Ed25519PrivateKey())
            let b = Host(loop: loop, identity: Ed25519PrivateKey())
            let addr = try! a.listen(on: .loopbackV4(port: 0))
            b.dial(addr, expect: a.peerID) { r in
                guard case .success(let c) = r else { done(.failure(StreamError("dial failed"))); return }
                c.openStream("/nope/1.0.0", lazy: true) { r in
                    guard case .success(let s) = r else { done(.failure(StreamError("open failed"))); return }
                    s.onEnd = { how in done(.success("\(how)")) }
                    s.send(Array("data".utf8))
                }
            }
        }
        #expect(result == "localReset")
    }
}
