import Testing
import AirlockCore
import AirlockCrypto
@testable import AirlockIO
import AirlockPolicy
@testable import AirlockWire
@testable import AirlockRelay

/// A peer that never reads while it keeps provoking answers.
extension RelayTests.RelayHostileTests {
    @Suite struct RelayHostileBackPressureTests {
        /// Pings (each answered), streams opened and reset (each answered with an ACK and a
        /// multistream header) and hop RESERVEs (each answered with a status), up to 16 MiB of
        /// them, from a peer whose socket is never read. The relay's queued output for that peer
        /// must stop near its read-hold mark, the heap must not grow by the volume sent, an
        /// honest client must be served meanwhile, and the relay must cut the silent peer once
        /// it has taken nothing for `stalledOutputTimeout`.
        @Test func peerThatNeverReadsCannotGrowTheRelaysOutput() async throws {
            let target = 16 << 20
            let result: String = try await onLoop(timeout: .seconds(60)) { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.relayHost.config.stalledOutputTimeout = 1
                lab.relayHost.config.closeLinger = 0.3
                let hold = lab.relayHost.config.connectionReadHold
                let registrations = loop.registrationCount
                let heap = HeapStats.bytesInUse()
                var facts: [String] = []
                let peer = RawPeer(lab: lab, identity: lab.keys["stranger"]!)
                var pings: [UInt8] = []
                while pings.count < 60_000 { pings += Frame.ping(7) }
                let hop = Frame.propose(ProtocolID.hop) + HopMessage.reserve.framed()
                var nextID: UInt32 = 1
                var sent = 0
                var relayRead: UInt64 = 0
                var readSince = MonotonicTime.now()
                var peak = 0
                var heapPeak = 0.0
                func pump() {
                    while sent < target && peer.tcp.isWritable && !peer.isClosedByRelay {
                        var chunk = Frame.open(nextID, hop, flags: .fin)
                        chunk += Frame.open(nextID + 2) + Frame.reset(nextID + 2)
                        nextID += 4
                        chunk += pings
                        peer.inject(chunk)
                        sent += chunk.count
                    }
                }
                func watch(_ c: Libp2pConnection, _ t: TCPConnection) {
                    peak = max(peak, lab.relayQueued(c))
                    heapPeak = max(heapPeak, Lab.heapMiB(since: heap))
                    if t.bytesRead != relayRead { relayRead = t.bytesRead; readSince = .now() }
                    let relayStoppedReading = MonotonicTime.now() > readSince.advanced(by: .milliseconds(200))
                    guard sent >= target || relayStoppedReading || peer.isClosedByRelay else {
                        lab.after(0.01) { watch(c, t) }
                        return
                    }
                    facts.append("relay stopped reading \(relayStoppedReading) after \(relayRead >> 20) of \(target >> 20) MiB")
                    facts.append("queued bounded \(peak <= hold + 512 * 1024) heap bounded \(heapPeak < 8)")
                    // The loop is not stuck behind the silent peer: honest clients are served now.
                    lab.honestRoundTrip { served in
                        facts.append("\(served) while connected \(!c.isClosed)")
                        lab.eventually("the relay cuts the silent peer", {
                            // Both sockets gone: the relay cut its end, and ours saw the reset.
                            lab.relayHost.connections.isEmpty && loop.registrationCount == registrations && peer.isClosedByRelay
                        }) {
                            facts.append("cut: \(c.closeReason ?? "-") counted \(lab.relay.counters.host.stalledOutputCloses)")
                            peer.close()
                            done(.success(facts.joined(separator: "; ")))
                        }
                    }
                }
                // The relay has its side once a ping came back; from then on we never read.
                peer.onEstablished = { peer.roundTrip {
                    peer.tcp.pauseReading()
                    guard let c = lab.relayConnection(from: lab.peer("stranger")), case .tcp(let t) = c.transport else {
                        return lab.fail("no relay connection")
                    }
                    // Small kernel buffers on both ends: the kernel absorbs little of the answers.
                    try? peer.tcp.socket.setReceiveBufferSize(4096)
                    try? t.socket.setSendBufferSize(4096)
                    peer.tcp.onWritable = { pump() }
                    pump()
                    watch(c, t)
                } }
                peer.handshake()
            }
            #expect(result.hasPrefix("relay stopped reading true after "))
            #expect(result.hasSuffix(" MiB; queued bounded true heap bounded true; served while connected true; "
                + "cut: remote took no output for 1.0 s counted 1"))
        }
    }
}
