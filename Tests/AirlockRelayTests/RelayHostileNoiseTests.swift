import Testing
import AirlockCore
@testable import AirlockCrypto
@testable import AirlockIO
import AirlockPolicy
@testable import AirlockWire
@testable import AirlockRelay

/// The connection upgrade under attack: silence, a stalled Noise frame, junk instead of
/// multistream, a corrupted transport frame, a forged identity signature. Each connection must be
/// closed for its own reason (the matching counter moves, no other does) and the relay must go on
/// serving honest peers.
extension RelayTests.RelayHostileTests {
    /// Short enough for a test, long enough for a loaded machine to finish honest handshakes.
    static let shortHandshake = 0.3

    /// Waits until the relay closed `peer` and holds no connection for it, then reports the host
    /// counters, restores a normal handshake timeout and proves an honest peer is served.
    static func closedThenHealthy(_ lab: Lab, _ peer: RawPeer, within: Double = 5, _ facts: [String],
                                  _ done: @escaping @Sendable (Result<String, any Error>) -> Void) {
        lab.eventually("the relay closes the connection", within: within,
                       { peer.isClosedByRelay && lab.relayHost.connections.isEmpty }) {
            let k = lab.relay.counters.host
            var facts = facts
            facts.append("closed true timeouts \(k.handshakeTimeouts) failed \(k.handshakesFailed) sessions failed \(k.sessionsFailed)")
            lab.relayHost.config.handshakeTimeout = 10
            lab.honestRoundTrip { facts.append($0); done(.success(facts.joined(separator: "; "))) }
        }
    }

    /// Plays the Noise initiator by hand after a lazy `/noise` proposal, so the test writes each
    /// handshake message itself. `msg3` builds message 3 from the handshake state (after message 2
    /// was read) and our static key.
    final class ManualInitiator {
        let peer: RawPeer
        var state: NoiseHandshakeState
        let staticKey: X25519KeyPair
        private var dialer = MultistreamDialer(proposing: ProtocolID.noise, lazy: true)
        private var inbox = ByteBuffer()
        private var negotiated = false
        private(set) var sentMessage3 = false
        /// Bytes the relay sent after our message 3 (an accepted handshake would send some).
        private(set) var bytesAfterMessage3 = 0

        init(_ peer: RawPeer, msg3: @escaping (inout NoiseHandshakeState, X25519KeyPair) throws -> [UInt8],
             failed: @escaping (String) -> Void) throws {
            self.peer = peer
            let key = X25519KeyPair.generate()
            staticKey = key
            state = try NoiseHandshakeState(protocolName: NoiseHandshake.protocolName, initiator: true, s: key)
            let m1 = NoiseHandshake.frame(try state.writeMessage(payload: []))
            peer.onRawRead = { [unowned self] raw in
                if sentMessage3 { bytesAfterMessage3 += raw.count; return }
                inbox.write(raw)
                do {
                    if !negotiated {
                        let step = try dialer.feed(from: &inbox)
                        guard case .selected = step.outcome else { return }
                        negotiated = true
                    }
                    guard let hi = inbox.peek(at: 0), let lo = inbox.peek(at: 1) else { return }
                    let length = Int(hi) << 8 | Int(lo)
                    guard inbox.readableBytes >= 2 + length else { return }
                    inbox.skip(2)
                    _ = try state.readMessage(inbox.readBytes(count: length)![...])
                    let m3 = NoiseHandshake.frame(try msg3(&state, staticKey))
                    sentMessage3 = true
                    peer.writeRaw(m3)
                } catch {
                    failed("manual initiator: \(error)")
                }
            }
            peer.writeRaw(dialer.start() + m1)
        }
    }

    /// A connection that agrees on `/noise`, sends one byte of a Noise length prefix and goes
    /// silent is cut by the handshake timeout (and counted as one).
    @Test func halfANoiseLengthPrefixThenSilenceIsCutByTheHandshakeTimeout() async throws {
        let result: String = try await onLoop { loop, done in
            let lab = Lab(loop: loop, done: done)
            lab.relayHost.config.handshakeTimeout = Self.shortHandshake
            let peer = RawPeer(lab: lab)
            var dialer = MultistreamDialer(proposing: ProtocolID.noise)
            var inbox = ByteBuffer()
            var facts: [String] = []
            peer.onRawRead = { raw in
                inbox.write(raw)
                guard facts.isEmpty, let step = try? dialer.feed(from: &inbox), case .selected(let p, _) = step.outcome else { return }
                facts.append("negotiated \(p)")
                peer.writeRaw([0x00])
                Self.closedThenHealthy(lab, peer, facts, done)
            }
            peer.writeRaw(dialer.start())
        }
        #expect(result == "negotiated /noise; closed true timeouts 1 failed 0 sessions failed 0; served")
    }

    /// A connection that never sends a byte is cut by the handshake timeout.
    @Test func silentConnectionIsCutByTheHandshakeTimeout() async throws {
        let result: String = try await onLoop { loop, done in
            let lab = Lab(loop: loop, done: done)
            lab.relayHost.config.handshakeTimeout = Self.shortHandshake
            let peer = RawPeer(lab: lab)
            lab.eventually("the relay accepts", { lab.relayHost.connections.count == 1 }) {
                Self.closedThenHealthy(lab, peer, ["accepted"], done)
            }
        }
        #expect(result == "accepted; closed true timeouts 1 failed 0 sessions failed 0; served")
    }

    /// Bytes that are not multistream (an HTTP request) are refused as they arrive: the
    /// connection is closed as a failed handshake, not left to the (long) handshake timeout.
    @Test func junkBeforeTheHandshakeIsRefused() async throws {
        let result: String = try await onLoop { loop, done in
            let lab = Lab(loop: loop, done: done)
            let peer = RawPeer(lab: lab)
            // Long enough that the first byte, read as a length (71), covers a whole "message".
            peer.writeRaw(Array("GET / HTTP/1.1\r\nHost: relay.example\r\nUser-Agent: probe\r\nAccept: */*\r\nConnection: close\r\n\r\n".utf8))
            Self.closedThenHealthy(lab, peer, ["timeout \(lab.relayHost.config.handshakeTimeout)"], done)
        }
        #expect(result == "timeout 10.0; closed true timeouts 0 failed 1 sessions failed 0; served")
    }

    /// After an honest handshake, one transport frame whose tag does not verify ends that
    /// session (without a GoAway: nothing from the remote can be trusted any more), while
    /// another connection to the relay keeps its reservation and answers pings.
    @Test func corruptedTransportTagEndsOnlyThatSession() async throws {
        let result: String = try await onLoop { loop, done in
            let lab = Lab(loop: loop, done: done)
            var facts: [String] = []
            lab.connect("svc") { h, bystander in
                lab.ask(bystander, .reserve) { _, _ in
                    let peer = RawPeer(lab: lab)
                    peer.onEstablished = {
                        peer.roundTrip {
                            facts.append("established, conns \(lab.relayHost.connections.count)")
                            peer.onClosed = {
                                lab.eventually("relay drops the session", { lab.relayHost.connections.count == 1 }) {
                                    let k = lab.relay.counters.host
                                    facts.append("closed true goAway \(peer.goAways) sessions failed \(k.sessionsFailed) failed \(k.handshakesFailed)")
                                    h.ping(bystander) { r in
                                        let pinged: Bool
                                        if case .success = r { pinged = true } else { pinged = false }
                                        facts.append("bystander open \(!bystander.isClosed) pinged \(pinged) "
                                            + "reservation kept \(lab.relay.reservations.map(\.peer) == [lab.peer("svc")])")
                                        lab.honestRoundTrip { facts.append($0); done(.success(facts.joined(separator: "; "))) }
                                    }
                                }
                            }
                            peer.injectWithCorruptedTag(Frame.ping(9))
                        }
                    }
                    peer.handshake()
                }
            }
        }
        #expect(result == "established, conns 2; closed true goAway [] sessions failed 1 failed 0; "
            + "bystander open true pinged true reservation kept true; served")
    }

    /// Message 3 whose identity signature does not cover our static key is refused: the relay
    /// sends nothing more (no multistream inside Noise), never admits the connection, closes it.
    @Test func handshakeSignatureThatDoesNotVerifyIsRefused() async throws {
        let result: String = try await onLoop { loop, done in
            let lab = Lab(loop: loop, done: done)
            var admitted = 0
            lab.relayHost.onConnection = { _ in admitted += 1 }
            let peer = RawPeer(lab: lab)
            let identity = lab.keys["client"]!
            let initiator = try! ManualInitiator(peer, msg3: { state, s in
                var payload = NoiseHandshakePayload(identity: identity, staticPublicKey: s.publicKey)
                payload.identitySignature[0] ^= 0x01
                return try state.writeMessage(payload: payload.encoded)
            }, failed: lab.fail)
            lab.eventually("message 3 is sent", { initiator.sentMessage3 }) {
                lab.eventually("the relay closes the connection", { peer.isClosedByRelay && lab.relayHost.connections.isEmpty }) {
                    let facts = ["sent message 3 true, relay sent after it \(initiator.bytesAfterMessage3) admitted \(admitted)"]
                    lab.relayHost.onConnection = nil
                    Self.closedThenHealthy(lab, peer, facts, done)
                }
            }
        }
        #expect(result == "sent message 3 true, relay sent after it 0 admitted 0; closed true timeouts 0 failed 1 sessions failed 0; served")
    }
}
