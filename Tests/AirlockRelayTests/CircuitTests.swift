import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockWire
@testable import AirlockRelay

/// Splices end to end: client → relay → target over real TCP connections on one loop.
extension RelayTests {
    @Suite struct CircuitTests {
        /// Sets up svc (reserved, serving STOP with `onStop`) and a client connection, then sends CONNECT.
        static func circuit(_ lab: Lab, onStop: @escaping (StopMessage, Libp2pStream) -> Void,
                            then: @escaping (HopMessage, Libp2pStream) -> Void) {
            lab.connect("svc") { h, target in
                lab.serveStop(on: h) { m, s in
                    guard let m else { return lab.fail("STOP did not decode") }
                    onStop(m, s)
                }
                lab.ask(target, .reserve) { r, _ in
                    guard r.status == .ok else { return lab.fail("reserve: \(r.status!)") }
                    lab.connect("client") { _, c in lab.ask(c, .connect(to: lab.peer("svc")), then) }
                }
            }
        }

        @Test func fourMiBEachWayByteExact() async throws {
            let total = 4 << 20
            let result: String = try await onLoop(timeout: .seconds(120)) { loop, done in
                let lab = Lab(loop: loop, done: done)
                var pumps: [PatternPump] = []
                var facts: [String] = []
                var spliced: Circuit?
                func finished() {
                    guard pumps.count == 2, pumps.allSatisfy({ $0.sent == total && $0.remoteDone }) else { return }
                    facts.append(pumps.map { "\($0.received) \($0.corrupt ? "corrupt" : "exact")" }.joined(separator: ", "))
                    lab.eventually("circuit closed", { lab.relay.counters.circuitsClosed == 1 }) {
                        let k = lab.relay.counters
                        // Pending bytes stay within one receive window (256 KiB) per direction.
                        let peaks = [spliced?.up.peakPending ?? -1, spliced?.down.peakPending ?? -1]
                        facts.append("bounded \(peaks.allSatisfy { $0 >= 0 && $0 <= 256 * 1024 })")
                        facts.append("opened \(k.circuitsOpened) live \(k.circuitsLive) up \(k.bytesUp) down \(k.bytesDown)")
                        facts.append("logged \(lab.logs.lines("circuit_closed", "bytes_up=\(total)", "bytes_down=\(total)", "reason=closed").count)")
                        done(.success(facts.joined(separator: "; ")))
                    }
                }
                Self.circuit(lab, onStop: { m, s in
                    facts.append("stop from client \(m.type == .connect && m.peer?.id == lab.peer("client")) limit \(m.limit.map { "\($0)" } ?? "none")")
                    s.send(StopMessage.status(.ok).framed())
                    let p = PatternPump(s, total: total); p.onDone = finished; pumps.append(p)
                }, then: { a, s in
                    facts.append("hop \(a.status!) limit \(a.limit.map { "\($0)" } ?? "none")")
                    spliced = lab.relay.circuitsByID.values.first
                    let info = lab.relay.circuits.first
                    facts.append("listed \(info?.source == lab.peer("client") && info?.target == lab.peer("svc"))")
                    let p = PatternPump(s, total: total); p.onDone = finished; pumps.append(p)
                })
            }
            #expect(result == "stop from client true limit none; hop OK limit none; listed true; "
                + "4194304 exact, 4194304 exact; bounded true; opened 1 live 0 up 4194304 down 4194304; logged 1")
        }

        @Test func slowTargetHoldsTheSourceBackWithoutBuffering() async throws {
            // The target returns no credit for a while: the relay must not read ahead of it, so
            // the source stalls after about two windows and the relay holds at most one.
            let total = 4 << 20
            let window = 256 * 1024
            let result: String = try await onLoop(timeout: .seconds(60)) { loop, done in
                let lab = Lab(loop: loop, done: done)
                var source: PatternPump?
                var received = 0, unconsumed = 0
                var corrupt = false
                var paused = true
                var spliced: Circuit?
                var facts = ""
                Self.circuit(lab, onStop: { _, s in
                    s.send(StopMessage.status(.ok).framed())
                    s.onData = { [unowned s] raw in
                        if !Pattern.matches(raw, offset: received) { corrupt = true }
                        received += raw.count
                        if paused { unconsumed += raw.count } else { s.consume(raw.count) }
                        if received == total {
                            done(.success("stalled \(facts) exact \(!corrupt)"))
                        }
                    }
                    lab.after(0.3) {
                        let up = spliced?.up
                        facts = "sent \(source!.sent <= 2 * window + 64 * 1024) pending \((up?.peakPending ?? -1) <= window)"
                        paused = false
                        s.consume(unconsumed)
                    }
                }, then: { _, s in
                    spliced = lab.relay.circuitsByID.values.first
                    source = PatternPump(s, total: total, close: false)
                })
            }
            #expect(result == "stalled sent true pending true exact true")
        }

        @Test func dataLimitResetsBothHalves() async throws {
            let cap = 65536
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, ruleLimits: #"{ "circuit_bytes": 65536 }"#, done: done)
                var target: PatternPump?
                var source: PatternPump?
                var facts: [String] = []
                func check() {
                    guard let t = target, let s = source, t.ended != nil, s.ended != nil else { return }
                    facts.append("target \(t.ended!) got \(t.received <= cap) source \(s.ended!) sent over \(s.sent > cap)")
                    lab.eventually("circuit closed", { lab.relay.counters.circuitsClosed == 1 }) {
                        facts.append("logged \(lab.logs.lines("circuit_closed", "reason=\"data limit up\"").count)")
                        done(.success(facts.joined(separator: "; ")))
                    }
                }
                Self.circuit(lab, onStop: { m, s in
                    facts.append("stop limit \(m.limit?.data ?? 0) \(m.limit?.duration ?? 0)")
                    s.send(StopMessage.status(.ok).framed())
                    target = PatternPump(s, total: 0, close: false); target!.onEnd = { _ in check() }
                }, then: { a, s in
                    facts.append("hop limit \(a.limit?.data ?? 0)")
                    source = PatternPump(s, total: 4 * cap); source!.onEnd = { _ in check() }
                })
            }
            #expect(result == "stop limit 65536 0; hop limit 65536; target reset got true source reset sent over true; logged 1")
        }

        @Test func exactlyTheDataLimitPassesIntact() async throws {
            let cap = 65536
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, ruleLimits: #"{ "circuit_bytes": 65536 }"#, done: done)
                var pumps: [PatternPump] = []
                func finished() {
                    guard pumps.count == 2, pumps.allSatisfy({ $0.sent == cap && $0.remoteDone }) else { return }
                    done(.success(pumps.map { "\($0.received) \($0.corrupt)" }.joined(separator: ", ")))
                }
                Self.circuit(lab, onStop: { _, s in
                    s.send(StopMessage.status(.ok).framed())
                    let p = PatternPump(s, total: cap); p.onDone = finished; pumps.append(p)
                }, then: { _, s in
                    let p = PatternPump(s, total: cap); p.onDone = finished; pumps.append(p)
                })
            }
            #expect(result == "65536 false, 65536 false")
        }

        @Test func durationLimitResetsBothHalves() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, ruleLimits: #"{ "circuit_seconds": 1 }"#, done: done)
                var ends: [String] = []
                let start = MonotonicTime.now()
                func ended(_ side: String, _ how: Libp2pStream.End) {
                    ends.append("\(side) \(how)")
                    guard ends.count == 2 else { return }
                    let seconds = Double(start.nanoseconds(until: .now())) / 1e9
                    lab.eventually("logged", { !lab.logs.lines("circuit_closed", "reason=\"duration limit\"").isEmpty }) {
                        done(.success("\(ends.sorted()) after a second \(seconds >= 1)"))
                    }
                }
                Self.circuit(lab, onStop: { _, s in
                    s.send(StopMessage.status(.ok).framed())
                    s.onEnd = { ended("target", $0) }
                }, then: { _, s in
                    s.onEnd = { ended("source", $0) }
                })
            }
            #expect(result == "[\"source reset\", \"target reset\"] after a second true")
        }

        @Test func bytesSentWithTheMessagesAreForwardedFirst() async throws {
            // The client pipelines data right after CONNECT and the target right after its OK:
            // both arrive in the relay's inboxes with the messages and must lead each direction.
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                var got: [String: [UInt8]] = [:]
                func report() {
                    guard got["target"]?.count == 5, got["source"]?.count == 4 else { return }
                    done(.success("\(String(decoding: got["target"]!, as: UTF8.self)) \(String(decoding: got["source"]!, as: UTF8.self))"))
                }
                func collect(_ name: String, _ s: Libp2pStream) {
                    s.onData = { [unowned s] raw in got[name, default: []] += Array(raw); s.consume(raw.count); report() }
                }
                lab.connect("svc") { h, target in
                    lab.serveStop(on: h) { _, s in
                        s.send(StopMessage.status(.ok).framed() + Array("pong".utf8))
                        collect("target", s)
                    }
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("client") { _, c in
                            lab.hop(c, HopMessage.connect(to: lab.peer("svc")).framed() + Array("hello".utf8)) { r in
                                guard case .success(let (a, s)) = r, a.status == .ok else { return lab.fail("connect: \(r)") }
                                collect("source", s)
                            }
                        }
                    }
                }
            }
            #expect(result == "hello pong")
        }
    }
}
