import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockWire
@testable import AirlockRelay

/// CONNECT refusals: policy, reservation, caps, the reserving connection, STOP failures.
extension RelayTests {
    @Suite struct RelayServerConnectTests {
        @Test func policyDeniesConnectFromUnknownOrUnruledSources() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.connect("svc3") { _, target in
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("stranger") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc3"))) { a, _ in
                                lab.connect("client") { _, c2 in
                                    // client has rules to svc and svc2, not svc3.
                                    lab.ask(c2, .connect(to: lab.peer("svc3"))) { b, _ in
                                        let logged = lab.logs.lines("circuit_refused", "reason=unknown-peer").count
                                            + lab.logs.lines("circuit_refused", "reason=no-rule").count
                                        done(.success("\(a.status!) \(b.status!) logged \(logged) refused \(lab.relay.counters.circuitsRefused)"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "PERMISSION_DENIED PERMISSION_DENIED logged 2 refused [\"PERMISSION_DENIED\": 2]")
        }

        @Test func connectToAConnectedPeerWithoutReservationOpensNoStop() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                var stops = 0
                lab.connect("svc") { h, _ in
                    lab.serveStop(on: h) { _, _ in stops += 1 }
                    lab.connect("client") { _, c in
                        lab.ask(c, .connect(to: lab.peer("svc"))) { a, _ in
                            lab.after(0.2) {
                                done(.success("\(a.status!) stops \(stops) logged \(lab.logs.lines("circuit_refused", "status=NO_RESERVATION").count)"))
                            }
                        }
                    }
                }
            }
            #expect(result == "NO_RESERVATION stops 0 logged 1")
        }

        @Test func reservingConnectionGoneMeansNoReservationAndNoDial() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                var stops = 0
                var inbound = 0
                lab.connect("svc") { h, first in
                    lab.serveStop(on: h) { _, _ in stops += 1 }
                    // svc also listens: the relay must not dial it, and keeps a second connection
                    // to the relay that the relay must not use either.
                    let svcAddr = try! h.listen(on: .loopbackV4(port: 0))
                    h.listenAddrs = [Multiaddr(ip4: (127, 0, 0, 1), port: svcAddr.port)]
                    h.onConnection = { c in if c.direction == .inbound { inbound += 1 } }
                    lab.ask(first, .reserve) { _, _ in
                        lab.dial(h) { _ in
                            first.close()
                            lab.eventually("reservation ends", { lab.relay.reservations.isEmpty }) {
                                lab.connect("client") { _, c in
                                    lab.ask(c, .connect(to: lab.peer("svc"))) { a, _ in
                                        lab.after(0.2) {
                                            done(.success("\(a.status!) stops \(stops) inbound \(inbound)"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "NO_RESERVATION stops 0 inbound 0")
        }

        @Test func reservationOutlivingItsConnectionIsNotUsed() async throws {
            // The relay is not told of the disconnect (its hook is removed), so the table still
            // holds the reservation when the CONNECT comes: the connection check must catch it.
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.relayHost.onDisconnect = nil
                var stops = 0
                lab.connect("svc") { h, first in
                    lab.serveStop(on: h) { _, _ in stops += 1 }
                    lab.ask(first, .reserve) { _, _ in
                        lab.dial(h) { _ in
                            first.close()
                            lab.eventually("relay sees one connection from svc", { lab.relayHost.connections(to: lab.peer("svc")).count == 1 }) {
                                lab.connect("client") { _, c in
                                    let conns = lab.relayHost.connections.count
                                    lab.ask(c, .connect(to: lab.peer("svc"))) { a, _ in
                                        lab.after(0.2) {
                                            done(.success("\(a.status!) kept \(lab.relay.reservations.count) stops \(stops) "
                                                + "conns same \(lab.relayHost.connections.count == conns) "
                                                + "logged \(lab.logs.lines("circuit_refused", "reason=reservation-connection-gone").count)"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "NO_RESERVATION kept 1 stops 0 conns same true logged 1")
        }

        @Test func stopAnswerTimeoutAndRefusalGiveConnectionFailed() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.stopAnswerTimeout = 0.3 }, done: done)
                var stopEnds: [String] = []
                lab.connect("svc") { h, target in
                    var n = 0
                    lab.serveStop(on: h) { m, s in
                        n += 1
                        s.onEnd = { how in stopEnds.append("\(how)") }
                        // The first CONNECT gets no answer; the second a refusal.
                        if n == 2 { s.send(StopMessage.status(.permissionDenied).framed()) }
                    }
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, _ in
                                lab.ask(c, .connect(to: lab.peer("svc"))) { b, _ in
                                    lab.eventually("both stop streams reset", { stopEnds.count == 2 }) {
                                        let k = lab.relay.counters
                                        done(.success("\(a.status!) \(b.status!) stops \(stopEnds) timeouts \(k.stopAnswerTimeouts) "
                                            + "refused \(k.circuitsRefused) live \(k.circuitsLive)"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "CONNECTION_FAILED CONNECTION_FAILED stops [\"reset\", \"reset\"] timeouts 1 "
                + "refused [\"CONNECTION_FAILED\": 2] live 0")
        }

        @Test func sourceLeavingBeforeTheStopAnswerResetsStopAndFreesTheSlot() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.maxCircuitsPerPeer = 1 }, done: done)
                var stopEnd: String?
                lab.connect("svc") { h, target in
                    lab.serveStop(on: h) { _, s in
                        s.onEnd = { stopEnd = "\($0)" }
                        // Answer nothing: the source goes away first.
                        lab.relayHost.connections(to: lab.peer("client")).first?.close()
                    }
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("client") { _, c in
                            lab.hop(c, HopMessage.connect(to: lab.peer("svc")).framed()) { _ in }
                            lab.eventually("stop stream reset", { stopEnd != nil }) {
                                let held = lab.relay.circuitTotal
                                // The per-peer cap of 1 is free again: a new CONNECT reaches STOP.
                                lab.serveStop(on: h) { _, s in s.send(StopMessage.status(.ok).framed()) }
                                lab.connect("client") { _, c2 in
                                    lab.ask(c2, .connect(to: lab.peer("svc"))) { a, _ in
                                        done(.success("\(stopEnd!) held \(held) then \(a.status!)"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "reset held 0 then OK")
        }

        @Test func ruleMaxCircuitsCapsThePairOnly() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, ruleLimits: #"{ "max_circuits": 1 }"#, done: done)
                lab.reservedService("svc") {
                    lab.reservedService("svc2") {
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, _ in
                                lab.ask(c, .connect(to: lab.peer("svc"))) { b, _ in
                                    // client → svc2 has no max_circuits.
                                    lab.ask(c, .connect(to: lab.peer("svc2"))) { d, _ in
                                        let k = lab.relay.counters
                                        done(.success("\(a.status!) \(b.status!) \(d.status!) caps total \(k.circuitsRefusedTotalCap) "
                                            + "peer \(k.circuitsRefusedPeerCap) policy \(k.circuitsRefusedPolicyCap)"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "OK RESOURCE_LIMIT_EXCEEDED OK caps total 0 peer 0 policy 1")
        }

        @Test func targetWithoutStopHandlerGivesConnectionFailed() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.connect("svc") { _, target in
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, _ in
                                done(.success("\(a.status!) \(lab.logs.lines("circuit_refused", "reason=stop-open-failed").count)"))
                            }
                        }
                    }
                }
            }
            #expect(result == "CONNECTION_FAILED 1")
        }

        @Test func circuitCapsPerPeerAreReleasedWhenACircuitCloses() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.maxCircuitsPerPeer = 1 }, done: done)
                lab.connect("svc") { h, target in
                    lab.serveStop(on: h) { _, s in s.send(StopMessage.status(.ok).framed()) }
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { first, s1 in
                                lab.ask(c, .connect(to: lab.peer("svc"))) { second, _ in
                                    let live = lab.relay.circuits.count
                                    s1.reset()
                                    lab.eventually("first circuit closed", { lab.relay.circuits.isEmpty }) {
                                        lab.ask(c, .connect(to: lab.peer("svc"))) { third, _ in
                                            let k = lab.relay.counters
                                            done(.success("\(first.status!) \(second.status!) \(third.status!) live \(live) "
                                                + "closed \(lab.logs.lines("circuit_closed", "reason=\"source reset\"").count) "
                                                + "caps total \(k.circuitsRefusedTotalCap) peer \(k.circuitsRefusedPeerCap) policy \(k.circuitsRefusedPolicyCap)"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "OK RESOURCE_LIMIT_EXCEEDED OK live 1 closed 1 caps total 0 peer 1 policy 0")
        }

        /// `maxCircuits` counts circuits to every target: with two open (to svc and svc2, far
        /// below the per-peer cap) the next CONNECT is refused; closing one admits a new one.
        @Test func totalCircuitCapIsReleasedWhenACircuitCloses() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, config: config { $0.maxCircuits = 2 }, done: done)
                lab.reservedService("svc") {
                    lab.reservedService("svc2") {
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, s1 in
                                lab.ask(c, .connect(to: lab.peer("svc2"))) { b, _ in
                                    lab.ask(c, .connect(to: lab.peer("svc"))) { d, _ in
                                        let live = lab.relay.circuits.count
                                        s1.reset()
                                        lab.eventually("first circuit closed", { lab.relay.circuits.count == 1 }) {
                                            lab.ask(c, .connect(to: lab.peer("svc"))) { e, _ in
                                                let k = lab.relay.counters
                                                done(.success("\(a.status!) \(b.status!) \(d.status!) \(e.status!) live \(live) "
                                                    + "refused \(k.circuitsRefused) caps total \(k.circuitsRefusedTotalCap) "
                                                    + "peer \(k.circuitsRefusedPeerCap) policy \(k.circuitsRefusedPolicyCap) "
                                                    + "logged \(lab.logs.lines("circuit_refused", "reason=circuit-cap", "in total").count)"))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "OK OK RESOURCE_LIMIT_EXCEEDED OK live 2 refused [\"RESOURCE_LIMIT_EXCEEDED\": 1] "
                + "caps total 1 peer 0 policy 0 logged 1")
        }
    }
}
