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

        /// The same attack one layer up, on a relayed connection: the client pings the service
        /// through a circuit and never grants credit for the answers. The service's connection
        /// has no socket to stop reading, so it must withhold the circuit stream's credit once
        /// its output passes the read-hold mark: its queued output stays near the mark while the
        /// client's pings stop getting through, the relay stays out of it (one window at most),
        /// and the service cuts the connection once the client took nothing for
        /// `stalledOutputTimeout`.
        @Test func peerThatNeverReadsARelayedConnectionCannotGrowItsTargetsOutput() async throws {
            let target = 4 << 20
            let result: String = try await onLoop(timeout: .seconds(60)) { loop, done in
                let lab = Lab(loop: loop, done: done)
                var facts: [String] = []
                lab.connect("svc") { h, reserved in
                    h.config.connectionReadHold = 256 * 1024
                    h.config.stalledOutputTimeout = 1
                    let hold = h.config.connectionReadHold
                    lab.serveStop(on: h) { _, s in
                        s.send(StopMessage.status(.ok).framed())
                        h.upgrade(stream: s, asDialer: false, expect: lab.peer("client")) { _ in }
                    }
                    lab.ask(reserved, .reserve) { _, _ in
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, hop in
                                guard a.status == .ok else { return lab.fail("connect: \(a.status!)") }
                                let peer = RelayedRawPeer(hop, expect: lab.peer("svc"), identity: lab.keys["client"]!)
                                var pings: [UInt8] = []
                                while pings.count < 60_000 { pings += Frame.ping(7) }
                                var sent = 0
                                var progressAt = MonotonicTime.now()
                                var peak = 0
                                func pump() {
                                    while sent < target && peer.unsent < 64 * 1024 && hop.isOpen {
                                        peer.inject(pings)
                                        sent += pings.count
                                        progressAt = .now()
                                    }
                                }
                                func watch(_ inner: Libp2pConnection) {
                                    peak = max(peak, lab.relayQueued(inner))
                                    let stuck = MonotonicTime.now() > progressAt.advanced(by: .milliseconds(200))
                                    guard sent >= target || stuck || inner.isClosed else {
                                        lab.after(0.01) { watch(inner) }
                                        return
                                    }
                                    facts.append("pings held back \(stuck && sent < target) queued bounded \(peak <= hold + 256 * 1024) "
                                        + "relay pending bounded \((lab.relay.circuitsByID.values.first?.up.peakPending ?? -1) <= 256 * 1024)")
                                    lab.eventually("the service cuts the silent peer", { inner.isClosed }) {
                                        facts.append("cut: \(inner.closeReason ?? "-") counted \(h.counters.stalledOutputCloses)")
                                        lab.honestRoundTrip { facts.append($0); done(.success(facts.joined(separator: "; "))) }
                                    }
                                }
                                peer.onEstablished = { peer.roundTrip {
                                    guard let inner = h.connections.values.first(where: { $0.isRelayed && $0.isEstablished }) else {
                                        return lab.fail("no relayed connection at the service")
                                    }
                                    // From now on the answers are never taken.
                                    peer.reading = false
                                    peer.onWritable = { pump() }
                                    pump()
                                    watch(inner)
                                } }
                            }
                        }
                    }
                }
            }
            #expect(result == "pings held back true queued bounded true relay pending bounded true; "
                + "cut: remote took no output for 1.0 s counted 1; served")
        }

        /// Two streams on one relayed connection (the shim's shape: one connection per service,
        /// a stream per TCP connection). The target stops reading one of them: that stream's
        /// sender stops at its own window while the other stream carries 4 MiB to the end; once
        /// the stalled reader consumes, its stream finishes too, byte exact.
        @Test func stalledStreamOnARelayedConnectionDoesNotStopItsNeighbour() async throws {
            let result: String = try await onLoop(timeout: .seconds(120)) { loop, done in
                let lab = Lab(loop: loop, done: done)
                let race = StallRace(lab: lab, sourceBound: 256 * 1024, done: done)
                lab.connect("svc") { h, target in
                    h.handle("/test/stalled") { s in race.sink(s, stalled: true) }
                    h.handle("/test/flowing") { s in race.sink(s, stalled: false) }
                    lab.serveStop(on: h) { _, s in
                        s.send(StopMessage.status(.ok).framed())
                        h.upgrade(stream: s, asDialer: false, expect: lab.peer("client")) { _ in }
                    }
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("client") { ch, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, s in
                                guard a.status == .ok else { return lab.fail("connect: \(a.status!)") }
                                ch.upgrade(stream: s, asDialer: true, expect: lab.peer("svc")) { r in
                                    guard case .success(let relayed) = r else { return lab.fail("upgrade: \(r)") }
                                    relayed.openStream("/test/stalled") { r in
                                        guard case .success(let s1) = r else { return lab.fail("open: \(r)") }
                                        relayed.openStream("/test/flowing") { r in
                                            guard case .success(let s2) = r else { return lab.fail("open: \(r)") }
                                            race.start(stalled: s1, flowing: s2, circuits: lab.relay.circuits.count)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "circuits 1; flowing done 4194304 exact while stalled got within window true sent within bound true; "
                + "stalled resumed 4194304 exact; served")
        }

        /// Two circuits on the same pair of connections (client → relay → svc). The target stops
        /// reading one circuit's stream: the relay holds that circuit back by withholding its
        /// credit (at most one window pending) and keeps reading both connections, so the other
        /// circuit carries 4 MiB to the end; the stalled one finishes once its reader consumes.
        @Test func stalledCircuitDoesNotStopItsNeighbourOnTheSameConnections() async throws {
            let result: String = try await onLoop(timeout: .seconds(120)) { loop, done in
                let lab = Lab(loop: loop, done: done)
                // The source's window and the relay's pending bytes: two windows, plus a frame.
                let race = StallRace(lab: lab, sourceBound: 2 * 256 * 1024 + 64 * 1024, done: done)
                lab.connect("svc") { h, target in
                    var stops = 0
                    lab.serveStop(on: h) { _, s in
                        stops += 1
                        s.send(StopMessage.status(.ok).framed())
                        race.sink(s, stalled: stops == 1)
                    }
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, s1 in
                                lab.ask(c, .connect(to: lab.peer("svc"))) { b, s2 in
                                    guard a.status == .ok, b.status == .ok else { return lab.fail("connect: \(a.status!) \(b.status!)") }
                                    race.start(stalled: s1, flowing: s2, circuits: lab.relay.circuits.count)
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "circuits 2; flowing done 4194304 exact while stalled got within window true sent within bound true; "
                + "stalled resumed 4194304 exact; served")
        }
    }
}

/// Two streams from one source whose target reads only one of them. `start` pumps `total`
/// pattern bytes into each; once the flowing stream has delivered all of them, the stalled one
/// must still be held within its window (and its sender within `sourceBound`); then its reader
/// consumes and it must finish, byte exact. An honest round trip closes the test.
final class StallRace {
    static let total = 4 << 20
    static let window = 256 * 1024

    /// The target's reader: consumes at once, or holds every byte's credit until `resume`.
    final class Sink {
        let stream: Libp2pStream
        private(set) var stalled: Bool
        private(set) var received = 0
        private(set) var corrupt = false
        private var unconsumed = 0
        var onProgress: (() -> Void)?

        init(_ s: Libp2pStream, stalled: Bool) {
            stream = s
            self.stalled = stalled
            s.onData = { [unowned self] raw in
                if !Pattern.matches(raw, offset: received) { corrupt = true }
                received += raw.count
                if self.stalled { unconsumed += raw.count } else { stream.consume(raw.count) }
                onProgress?()
            }
        }

        func resume() {
            stalled = false
            let n = unconsumed
            unconsumed = 0
            stream.consume(n)
        }
    }

    let lab: Lab
    let sourceBound: Int
    let done: @Sendable (Result<String, any Error>) -> Void
    private var facts: [String] = []
    private var stalledPump: PatternPump?
    private var flowingPump: PatternPump?
    private var stalledSink: Sink?
    private var flowingSink: Sink?
    private var checked = false
    private var finished = false

    init(lab: Lab, sourceBound: Int, done: @escaping @Sendable (Result<String, any Error>) -> Void) {
        self.lab = lab
        self.sourceBound = sourceBound
        self.done = done
    }

    /// A target-side stream arrived.
    func sink(_ s: Libp2pStream, stalled: Bool) {
        let sink = Sink(s, stalled: stalled)
        sink.onProgress = { [unowned self] in progress() }
        if stalled { stalledSink = sink } else { flowingSink = sink }
        progress()
    }

    /// Both source streams are ready: pump into both at once.
    func start(stalled: Libp2pStream, flowing: Libp2pStream, circuits: Int) {
        facts.append("circuits \(circuits)")
        stalledPump = PatternPump(stalled, total: Self.total)
        flowingPump = PatternPump(flowing, total: Self.total)
    }

    private func progress() {
        guard let flowing = flowingSink, let stalled = stalledSink, let pump = stalledPump else { return }
        if !checked && flowing.received == Self.total {
            checked = true
            // The stalled stream moved (it is held, not idle), and no further than its credit.
            facts.append("flowing done \(flowing.received) \(flowing.corrupt ? "corrupt" : "exact") while stalled got within window "
                + "\(stalled.received > 0 && stalled.received <= Self.window) sent within bound \(pump.sent <= sourceBound)")
            stalled.resume()
        }
        if checked && !finished && stalled.received == Self.total {
            finished = true
            facts.append("stalled resumed \(stalled.received) \(stalled.corrupt ? "corrupt" : "exact")")
            lab.honestRoundTrip { [self] in facts.append($0); done(.success(facts.joined(separator: "; "))) }
        }
    }
}
