import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockWire
@testable import AirlockRelay

/// RESERVE, reservation lifetime, and hop-stream handling, over real connections on 127.0.0.1.
extension RelayTests {
    @Suite struct RelayServerTests {
        @Test func reserveGrantsVerifiableVoucherAndAddresses() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.reservationTTL = 600 }, done: done)
                let relayID = lab.relayHost.peerID
                let port = lab.relayAddr.port
                // One plain address, one already naming the relay, one circuit address (left out).
                lab.relayHost.listenAddrs = [
                    Multiaddr(ip4: (127, 0, 0, 1), port: port),
                    Multiaddr(ip4: (127, 0, 0, 1), port: port + 1).appending(.p2p(relayID)),
                    Multiaddr(ip4: (10, 0, 0, 1), port: 1).appending(.p2p(relayID)).appending(.p2pCircuit),
                ]
                lab.connect("svc") { _, c in
                    lab.ask(c, .reserve) { answer, s in
                        guard answer.status == .ok, let r = answer.reservation, let v = r.voucher else {
                            return done(.success("bad answer \(answer)"))
                        }
                        let voucher: Voucher
                        do { voucher = try Voucher.open(v) } catch { return done(.success("voucher did not verify: \(error)")) }
                        let expected = [Multiaddr(ip4: (127, 0, 0, 1), port: port).appending(.p2p(relayID)),
                                        Multiaddr(ip4: (127, 0, 0, 1), port: port + 1).appending(.p2p(relayID))]
                        var facts = [String]()
                        facts.append("expire \(r.expire == UInt64(lab.clock.now) + 600)")
                        facts.append("addrs \(r.addrs == expected)")
                        facts.append("voucher \(voucher.relay == relayID && voucher.peer == lab.peer("svc") && voucher.expiration == r.expire)")
                        facts.append("limit \(answer.limit == nil)")
                        lab.eventually("relay half-closes", { s.remoteClosed }) {
                            let k = lab.relay.counters
                            facts.append("live \(k.reservationsLive) granted \(k.reservationsGranted)")
                            facts.append("entry \(lab.relay.reservations.map(\.peer) == [lab.peer("svc")])")
                            facts.append("logged \(lab.logs.lines("reservation", "status=OK", "reason=service", "peer=\(lab.peer("svc"))").count)")
                            done(.success(facts.joined(separator: ", ")))
                        }
                    }
                }
            }
            #expect(result == "expire true, addrs true, voucher true, limit true, live 1 granted 1, entry true, logged 1")
        }

        @Test func secondReserveRefreshesAndRateLimitKeepsTheReservation() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.reservationTTL = 600; $0.reserveBurst = 2; $0.reserveRefillPerSecond = 0.001 },
                              done: done)
                lab.connect("svc") { _, c in
                    lab.ask(c, .reserve) { first, _ in
                        lab.clock.now += 100
                        lab.ask(c, .reserve) { second, _ in
                            lab.clock.now += 100
                            lab.ask(c, .reserve) { third, _ in
                                let e1 = first.reservation?.expire ?? 0, e2 = second.reservation?.expire ?? 0
                                let k = lab.relay.counters
                                done(.success([
                                    "\(first.status!) \(second.status!) \(third.status!)",
                                    "refreshed by \(e2 - e1)",
                                    "third has no reservation \(third.reservation == nil)",
                                    "kept \(lab.relay.reservations.map(\.expire) == [e2])",
                                    "live \(k.reservationsLive) granted \(k.reservationsGranted) refused \(k.reservationsRefused)",
                                    "logged refresh \(lab.logs.lines("reservation", "refreshed=true").count)",
                                ].joined(separator: "; ")))
                            }
                        }
                    }
                }
            }
            #expect(result == "OK OK RESOURCE_LIMIT_EXCEEDED; refreshed by 100; third has no reservation true; kept true; "
                + "live 1 granted 2 refused [\"rate-limited\": 1]; logged refresh 1")
        }

        @Test func policyRefusesPeersThatAreNotServices() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.connect("client") { _, c in
                    lab.ask(c, .reserve) { a, _ in
                        lab.connect("stranger") { _, c2 in
                            lab.ask(c2, .reserve) { b, _ in
                                let logged = lab.logs.lines("reservation", "status=PERMISSION_DENIED", "reason=not-a-service").count
                                    + lab.logs.lines("reservation", "status=PERMISSION_DENIED", "reason=unknown-peer").count
                                done(.success("\(a.status!) \(b.status!) \(a.reservation == nil) logged \(logged) live \(lab.relay.counters.reservationsLive)"))
                            }
                        }
                    }
                }
            }
            #expect(result == "PERMISSION_DENIED PERMISSION_DENIED true logged 2 live 0")
        }

        @Test func perIPAndTotalCapsRefuseReservations() async throws {
            // Every test peer comes from 127.0.0.1, so the per-IP cap and the total cap are each
            // tested with the other one out of the way.
            func run(_ cfg: RelayConfig) async throws -> String {
                try await onLoop { loop, done in
                    let lab = Lab(loop: loop, config: cfg, done: done)
                    var statuses: [String] = []
                    func next(_ names: ArraySlice<String>) {
                        guard let n = names.first else {
                            let k = lab.relay.counters
                            return done(.success("\(statuses.joined(separator: " ")) live \(k.reservationsLive) refused \(k.reservationsRefused)"))
                        }
                        lab.connect(n) { _, c in
                            lab.ask(c, .reserve) { a, _ in statuses.append("\(a.status!)"); next(names.dropFirst()) }
                        }
                    }
                    next(["svc", "svc2", "svc3"])
                }
            }
            #expect(try await run(config { $0.maxReservationsPerIP = 2 })
                == "OK OK RESERVATION_REFUSED live 2 refused [\"ip-cap\": 1]")
            #expect(try await run(config { $0.maxReservations = 2 })
                == "OK OK RESERVATION_REFUSED live 2 refused [\"total-cap\": 1]")
        }

        @Test func reconnectingWithTheSameKeyIsNeverLockedOut() async throws {
            let rounds = 25
            let result: String = try await onLoop(timeout: .seconds(60)) { loop, done in
                // A tight per-IP cap: were old connections' reservations counted twice, the cap
                // would lock the peer out after two rounds. The burst only keeps the rate limit
                // (tested elsewhere) out of this test.
                let lab = Lab(loop: loop, config: config { $0.maxReservationsPerIP = 2; $0.reserveBurst = 1000 }, done: done)
                var previous: Libp2pConnection?
                var bad: [String] = []
                func round(_ i: Int) {
                    guard i < rounds else {
                        lab.eventually("old connections gone", { lab.relayHost.connections.count == 1 }) {
                            let k = lab.relay.counters
                            let before = "\(k.reservationsLive)/\(lab.relay.reservations.count)"
                            previous?.close()
                            lab.eventually("last reservation ends with its connection", { lab.relay.reservations.isEmpty }) {
                                let k2 = lab.relay.counters
                                done(.success("bad \(bad) before \(before) after \(k2.reservationsLive) ended \(k2.reservationsEnded)"))
                            }
                        }
                        return
                    }
                    lab.connect("svc") { _, c in
                        lab.ask(c, .reserve) { a, _ in
                            if a.status != .ok { bad.append("\(i): \(a.status!)") }
                            let k = lab.relay.counters
                            if k.reservationsLive != 1 || lab.relay.reservations.count != 1 { bad.append("\(i): live \(k.reservationsLive)") }
                            previous?.close()
                            previous = c
                            round(i + 1)
                        }
                    }
                }
                round(0)
            }
            #expect(result == "bad [] before 1/1 after 0 ended [\"disconnected\": 1]")
        }

        @Test func reservationsEndOnExpiryAndOnDisconnect() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.reservationTTL = 100; $0.sweepInterval = 0.02 }, done: done)
                lab.connect("svc") { _, c in
                    lab.ask(c, .reserve) { _, _ in
                        lab.connect("svc2") { _, c2 in
                            lab.ask(c2, .reserve) { _, _ in
                                let both = lab.relay.reservations.count
                                c2.close()
                                lab.eventually("svc2's reservation ends with its connection", { lab.relay.reservations.count == 1 }) {
                                    lab.clock.now += 101
                                    lab.eventually("svc's reservation expires", { lab.relay.reservations.isEmpty }) {
                                        let ended = lab.relay.counters.reservationsEnded
                                        let logged = lab.logs.lines("reservation_ended", "reason=expired", "peer=\(lab.peer("svc"))").count
                                        done(.success("\(both) \(ended) logged \(logged) conn open \(!c.isClosed)"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "2 [\"disconnected\": 1, \"expired\": 1] logged 1 conn open true"
                || result == "2 [\"expired\": 1, \"disconnected\": 1] logged 1 conn open true")
        }

        @Test func wrongTypeAndMalformedMessagesGetTheirStatus() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                let cases: [(String, [UInt8])] = [
                    ("status", HopMessage.status(.ok).framed()),
                    ("junk", [0x03, 0xff, 0xff, 0xff]),
                    ("no type", Delimited.frame(HopMessage.connect(to: lab.peer("svc")).encode().dropFirst(2).map { $0 })),
                    ("connect without peer", HopMessage(type: .connect).framed()),
                    ("oversize", [0x88, 0x27] + [UInt8](repeating: 0, count: 16)),
                    ("bad peer id", Delimited.frame([0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0xff, 0xff])),
                ]
                var out: [String] = []
                lab.connect("client") { _, c in
                    func next(_ i: Int) {
                        guard i < cases.count else { return done(.success(out.joined(separator: ", "))) }
                        lab.hop(c, cases[i].1) { r in
                            switch r {
                            case .success(let (a, _)): out.append("\(cases[i].0): \(a.status.map { "\($0)" } ?? "none")")
                            case .failure(let e): out.append("\(cases[i].0): \(e)")
                            }
                            next(i + 1)
                        }
                    }
                    next(0)
                }
            }
            #expect(result == "status: UNEXPECTED_MESSAGE, junk: MALFORMED_MESSAGE, no type: MALFORMED_MESSAGE, "
                + "connect without peer: MALFORMED_MESSAGE, oversize: MALFORMED_MESSAGE, bad peer id: MALFORMED_MESSAGE")
        }

        @Test func answeredStreamIgnoresFurtherBytesAndCloses() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.answeredStreamLinger = 0.3 }, done: done)
                lab.connect("svc") { _, c in
                    // RESERVE followed by junk, as a client that keeps writing would send.
                    lab.hop(c, HopMessage.reserve.framed() + [UInt8](repeating: 0x55, count: 3000)) { r in
                        guard case .success(let (a, s)) = r else { return done(.success("no answer")) }
                        var ended: Libp2pStream.End?
                        s.onEnd = { ended = $0 }
                        [UInt8](repeating: 0x66, count: 2000).withUnsafeBytes { _ = s.write($0) }
                        lab.eventually("relay half-closed", { s.remoteClosed }) {
                            // We never close: the relay resets the stream after its linger time.
                            lab.eventually("stream ended", { ended != nil }) {
                                done(.success("\(a.status!) \(ended!) live \(lab.relay.counters.reservationsLive) conn open \(!c.isClosed)"))
                            }
                        }
                    }
                }
            }
            #expect(result == "OK reset live 1 conn open true")
        }

        @Test func firstMessageMustComeInTime() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.messageTimeout = 0.2 }, done: done)
                lab.connect("svc") { _, c in
                    lab.hop(c, []) { r in
                        guard case .failure(let e) = r else { return done(.success("answered")) }
                        done(.success("\(e) timeouts \(lab.relay.counters.messageTimeouts) conn open \(!c.isClosed)"))
                    }
                }
            }
            #expect(result == "hop stream ended: reset timeouts 1 conn open true")
        }

        @Test func hopFloodIsCutToTheCapAndOtherConnectionsAreUnaffected() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.maxHopInFlightPerConnection = 4 }, done: done)
                lab.connect("svc") { h, c in
                    var held: [Libp2pStream] = []
                    var cut = 0
                    for _ in 0..<10 {
                        c.openStream(ProtocolID.hop) { r in
                            switch r {
                            case .failure: cut += 1
                            case .success(let s):
                                held.append(s)
                                s.onEnd = { [unowned s] _ in cut += 1; held.removeAll { $0 === s } }
                            }
                        }
                    }
                    lab.eventually("six cut", { cut == 6 }) {
                        lab.after(0.2) {  // the four held ones stay
                            lab.dial(h) { c2 in
                                lab.ask(c2, .reserve) { other, _ in
                                    guard let first = held.first else { return done(.success("none held")) }
                                    first.send(HopMessage.reserve.framed())
                                    first.onReadable = { [unowned first] in
                                        guard let body = try? first.readMessage(cap: 4096), let m = try? HopMessage(decoding: body[...]) else { return }
                                        done(.success("cut \(cut) held \(held.count) other \(other.status!) held one \(m.status!) "
                                            + "refused \(lab.relay.counters.hopStreamsRefusedInFlight)"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "cut 6 held 4 other OK held one OK refused 6")
        }

        @Test func relayedConnectionsMayNotReserveOrConnect() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                // A connection to the relay that runs over a stream of another connection.
                lab.relayHost.handle("/test/pipe") { s in
                    lab.relayHost.upgrade(stream: s, asDialer: false, expect: nil) { _ in }
                }
                lab.connect("svc") { h, c in
                    c.openStream("/test/pipe") { r in
                        guard case .success(let pipe) = r else { return done(.success("pipe failed")) }
                        h.upgrade(stream: pipe, asDialer: true, expect: lab.relayHost.peerID) { r in
                            guard case .success(let relayed) = r else { return done(.success("upgrade failed \(r)")) }
                            lab.ask(relayed, .reserve) { a, _ in
                                lab.ask(relayed, .connect(to: lab.peer("svc2"))) { b, _ in
                                    done(.success("\(relayed.isRelayed) \(a.status!) \(b.status!) logged \(lab.logs.lines("reservation", "reason=relayed").count)"))
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "true PERMISSION_DENIED PERMISSION_DENIED logged 1")
        }

        @Test func stopRefusesNewWorkAndClearsReservations() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.connect("svc") { _, c in
                    lab.ask(c, .reserve) { a, _ in
                        lab.relay.stop()
                        let left = lab.relay.reservations.count
                        lab.hop(c, HopMessage.reserve.framed()) { r in
                            let after: String
                            switch r { case .success(let (m, _)): after = "\(m.status!)"; case .failure: after = "refused" }
                            done(.success("\(a.status!) left \(left) after \(after) ended \(lab.relay.counters.reservationsEnded)"))
                        }
                    }
                }
            }
            #expect(result == "OK left 0 after refused ended [\"stopped\": 1]")
        }
    }
}
