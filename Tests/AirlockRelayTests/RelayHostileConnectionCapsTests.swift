import Testing
import AirlockCore
import AirlockCrypto
@testable import AirlockIO
import AirlockPolicy
@testable import AirlockWire
@testable import AirlockRelay

/// The host's connection caps on a real relay: filled, the next connection refused (and counted),
/// and a freed place taken by a new connection.
extension RelayTests.RelayHostileTests {
    @Suite struct RelayHostileConnectionCapsTests {
        /// With `maxHandshaking` connections silent in their handshake, the next accepted socket
        /// is closed at once; finishing one handshake frees its place.
        @Test func handshakingCapRefusesTheNextUntilOneFinishes() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.relayHost.config.maxHandshaking = 2
                var facts: [String] = []
                let silent = [RawPeer(lab: lab), RawPeer(lab: lab)]
                lab.eventually("the relay holds both silent peers", { lab.relayHost.connections.count == 2 }) {
                    let third = RawPeer(lab: lab)
                    lab.eventually("the third is closed", { third.isClosedByRelay }) {
                        let k = lab.relay.counters.host
                        facts.append("third refused, silent open \(silent.allSatisfy { !$0.isClosedByRelay }) conns \(lab.relayHost.connections.count) "
                            + "handshaking cap \(k.connectionsRefusedHandshakingCap) connection cap \(k.connectionsRefusedConnectionCap)")
                        // One silent peer completes its handshake: its place is free.
                        silent[0].onEstablished = { silent[0].roundTrip {
                            let fourth = RawPeer(lab: lab)
                            fourth.onEstablished = { fourth.roundTrip {
                                let k = lab.relay.counters.host
                                facts.append("fourth admitted \(!fourth.isClosedByRelay) conns \(lab.relayHost.connections.count) "
                                    + "handshaking cap \(k.connectionsRefusedHandshakingCap)")
                                for p in silent + [fourth] { p.close() }
                                lab.eventually("the relay drops them", { lab.relayHost.connections.isEmpty }) {
                                    lab.honestRoundTrip { facts.append($0); done(.success(facts.joined(separator: "; "))) }
                                }
                            } }
                            fourth.handshake()
                        } }
                        silent[0].handshake()
                    }
                }
            }
            #expect(result == "third refused, silent open true conns 2 handshaking cap 1 connection cap 0; "
                + "fourth admitted true conns 3 handshaking cap 1; served")
        }

        /// With `maxConnections` held, the next dial is closed before its handshake; closing one
        /// connection admits a new one.
        @Test func connectionCapRefusesTheNextUntilOneCloses() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.relayHost.config.maxConnections = 2
                var facts: [String] = []
                lab.connect("svc") { _, first in
                    lab.connect("client") { _, second in
                        lab.host("stranger").dial(lab.relayAddr, expect: lab.relayHost.peerID) { r in
                            let k = lab.relay.counters.host
                            facts.append("third \(r.isSuccess ? "admitted" : "refused") conns \(lab.relayHost.connections.count) "
                                + "connection cap \(k.connectionsRefusedConnectionCap) handshaking cap \(k.connectionsRefusedHandshakingCap)")
                            first.close()
                            lab.eventually("the relay drops the first", { lab.relayHost.connections.count == 1 }) {
                                lab.connect("stranger") { _, fourth in
                                    facts.append("fourth admitted \(!fourth.isClosed) connection cap \(lab.relay.counters.host.connectionsRefusedConnectionCap)")
                                    second.close(); fourth.close()
                                    lab.eventually("the relay drops them", { lab.relayHost.connections.isEmpty }) {
                                        lab.honestRoundTrip { facts.append($0); done(.success(facts.joined(separator: "; "))) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "third refused conns 2 connection cap 1 handshaking cap 0; fourth admitted true connection cap 1; served")
        }
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true }; return false }
}
