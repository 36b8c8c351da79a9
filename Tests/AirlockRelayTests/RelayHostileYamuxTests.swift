import Testing
import AirlockCore
import AirlockCrypto
@testable import AirlockIO
import AirlockPolicy
@testable import AirlockWire
@testable import AirlockRelay

/// Crafted yamux input after an honest handshake: window violations and stream floods.
extension RelayTests.RelayHostileTests {
    @Suite struct RelayHostileYamuxTests {
        /// A Data frame exactly one window long is fine (only its junk stream is refused); one
        /// byte more ends that session with GoAway(protocol error) and a close, and nothing else.
        @Test func dataFrameBeyondTheWindowEndsOnlyThatSession() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                var facts: [String] = []
                lab.connect("svc") { _, bystander in
                    lab.ask(bystander, .reserve) { _, _ in
                        let peer = RawPeer(lab: lab)
                        peer.onEstablished = {
                            // Exactly the window, junk that fails negotiation: the stream is reset.
                            // Opened through our yamux so that its reset is reported to us.
                            let id = try! peer.yamux.openStream()
                            peer.inject(Frame.header(.data, [], id, YamuxFrame.initialWindow)
                                + [UInt8](repeating: 0xee, count: Int(YamuxFrame.initialWindow)))
                            peer.roundTrip {
                                facts.append("window-sized: resets \(peer.resets) alive \(!peer.isClosedByRelay) conns \(lab.relayHost.connections.count)")
                                peer.onClosed = {
                                    lab.eventually("relay drops the session", { lab.relayHost.connections.count == 1 }) {
                                        facts.append("oversize: goAway \(peer.goAways) closed \(peer.isClosedByRelay)")
                                        facts.append("bystander open \(!bystander.isClosed) reservation kept \(lab.relay.reservations.map(\.peer) == [lab.peer("svc")])")
                                        lab.honestRoundTrip { facts.append($0); done(.success(facts.joined(separator: "; "))) }
                                    }
                                }
                                // Only the header: the relay must refuse on the length alone.
                                peer.inject(Frame.header(.data, .syn, 3, YamuxFrame.initialWindow + 1))
                            }
                        }
                        peer.handshake()
                    }
                }
            }
            #expect(result == "window-sized: resets [1] alive true conns 2; oversize: goAway [protocol error] closed true; "
                + "bystander open true reservation kept true; served")
        }

        /// Window credit may grow up to 2^32-1 in any number of steps; the update that would pass
        /// it is a protocol error.
        @Test func windowCreditPastTwoToTheThirtyTwoIsAProtocolError() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                var facts: [String] = []
                let peer = RawPeer(lab: lab)
                peer.onEstablished = {
                    // A ping stream stays open and has sent < 256 KiB: its send window is
                    // 256 KiB minus a few dozen bytes of negotiation.
                    peer.inject(Frame.open(1, Frame.propose(ProtocolID.ping)))
                    peer.inject(Frame.window(1, 0x8000_0000) + Frame.window(1, 0x8000_0000 - 0x10_0000))
                    peer.roundTrip {
                        facts.append("below 2^32: alive \(!peer.isClosedByRelay) goAway \(peer.goAways)")
                        peer.onClosed = {
                            lab.eventually("relay drops the session", { lab.relayHost.connections.isEmpty }) {
                                facts.append("past 2^32: goAway \(peer.goAways) closed \(peer.isClosedByRelay)")
                                lab.honestRoundTrip { facts.append($0); done(.success(facts.joined(separator: "; "))) }
                            }
                        }
                        // 2^32 - 1 MiB + ~256 KiB + 1 MiB > 2^32 - 1.
                        peer.inject(Frame.window(1, 0x10_0000))
                    }
                }
                peer.handshake()
            }
            #expect(result == "below 2^32: alive true goAway []; past 2^32: goAway [protocol error] closed true; served")
        }

        /// Thousands of open+reset and open+FIN streams: the session survives, streams that
        /// never negotiate are capped (64 held, the rest reset), memory stays flat.
        @Test func openResetAndOpenFinLoopsAreCapped() async throws {
            let result: String = try await onLoop(timeout: .seconds(60)) { loop, done in
                let lab = Lab(loop: loop, done: done)
                let heap = HeapStats.bytesInUse()
                var facts: [String] = []
                let peer = RawPeer(lab: lab)
                peer.onEstablished = {
                    let y = peer.yamux
                    for _ in 0..<5000 { let id = try! y.openStream(); y.reset(stream: id) }
                    peer.flush()
                    peer.roundTrip {
                        let relayConn = lab.relayHost.connections.values.first
                        facts.append("open+rst: alive \(!peer.isClosedByRelay) resets \(peer.resets.count) relay streams \(relayConn?.streamCount ?? -1)")
                        var finIDs: Set<UInt32> = []
                        for _ in 0..<3000 { let id = try! y.openStream(); y.closeWrite(stream: id); finIDs.insert(id) }
                        peer.flush()
                        peer.roundTrip {
                            let held = relayConn?.streamCount ?? -1
                            facts.append("open+fin: alive \(!peer.isClosedByRelay) resets \(peer.resets.count) all ours \(Set(peer.resets).isSubset(of: finIDs))")
                            facts.append("relay holds \(held) streams, yamux \(relayConn?.session.yamux?.inboundStreamCount ?? -1)")
                            let k = lab.relay.counters.host
                            facts.append("negotiating cap \(k.streamsRefusedNegotiatingCap) stream cap \(k.streamsRefusedStreamCap)")
                            facts.append("heap bounded \(Lab.heapMiB(since: heap) < 16)")
                            lab.honestRoundTrip { facts.append($0); peer.close(); done(.success(facts.joined(separator: "; "))) }
                        }
                    }
                }
                peer.handshake()
            }
            #expect(result == "open+rst: alive true resets 0 relay streams 0; open+fin: alive true resets 2936 all ours true; "
                + "relay holds 64 streams, yamux 64; negotiating cap 2936 stream cap 0; heap bounded true; served")
        }

        /// Streams that negotiate and stay open: the yamux cap (here 100) holds, every stream
        /// beyond it is reset, the session survives.
        @Test func streamsBeyondTheCapAreReset() async throws {
            let result: String = try await onLoop(timeout: .seconds(60)) { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.relayHost.config.maxStreamsPerConnection = 100
                let heap = HeapStats.bytesInUse()
                var facts: [String] = []
                let peer = RawPeer(lab: lab)
                peer.onEstablished = {
                    let y = peer.yamux
                    let hello = Frame.propose(ProtocolID.ping)
                    for _ in 0..<2000 {
                        let id = try! y.openStream()
                        _ = hello.withUnsafeBytes { y.send(stream: id, $0) }
                    }
                    peer.flush()
                    peer.roundTrip {
                        let relayConn = lab.relayHost.connections.values.first
                        facts.append("alive \(!peer.isClosedByRelay) resets \(peer.resets.count) first reset \(peer.resets.first ?? 0)")
                        facts.append("relay holds \(relayConn?.streamCount ?? -1) streams, yamux \(relayConn?.session.yamux?.inboundStreamCount ?? -1)")
                        facts.append("stream cap \(lab.relay.counters.host.streamsRefusedStreamCap)")
                        facts.append("heap bounded \(Lab.heapMiB(since: heap) < 16)")
                        peer.close()
                        // The count outlives the connection.
                        lab.eventually("the relay drops the session", { lab.relayHost.connections.isEmpty }) {
                            facts.append("after close \(lab.relay.counters.host.streamsRefusedStreamCap)")
                            lab.honestRoundTrip { facts.append($0); done(.success(facts.joined(separator: "; "))) }
                        }
                    }
                }
                peer.handshake()
            }
            // Streams 1, 3, … 199 are the 100 accepted; 201 is the first refused.
            #expect(result == "alive true resets 1900 first reset 201; relay holds 100 streams, yamux 100; stream cap 1900; "
                + "heap bounded true; after close 1900; served")
        }

        /// A stream opened and never negotiated is reset once `messageTimeout` passes, and
        /// counted; the session stays.
        @Test func streamThatNeverNegotiatesIsResetByTheTimeout() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.relayHost.config.messageTimeout = 0.3
                let peer = RawPeer(lab: lab)
                peer.onEstablished = {
                    let id = try! peer.yamux.openStream()
                    peer.flush()
                    lab.eventually("the relay resets the stream", { peer.resets == [id] }) {
                        let fact = "reset \(peer.resets) alive \(!peer.isClosedByRelay) timeouts \(lab.relay.counters.host.negotiationTimeouts)"
                        peer.close()
                        lab.relayHost.config.messageTimeout = 10
                        lab.honestRoundTrip { done(.success("\(fact); \($0)")) }
                    }
                }
                peer.handshake()
            }
            #expect(result == "reset [1] alive true timeouts 1; served")
        }
    }
}
