#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockWire

/// Two sessions wired back to back, each owner honouring send windows and reporting consumed
/// bytes, moving patterned data both ways over several streams.
@Suite struct YamuxTransferTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var perStream: Int
        var config = YamuxConfig()
        var deferConsume = false
        /// Largest piece of output handed to the other side's `receive` at once.
        var maxChunk: Int
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "16 MiB each way, 256 KiB windows, random splits", perStream: 4 << 20, maxChunk: 70_000),
        Case(name: "16 MiB each way, 16 MiB windows, deferred consume", perStream: 4 << 20,
             config: YamuxConfig(maxWindow: 16 << 20), deferConsume: true, maxChunk: 1 << 20),
        Case(name: "16 MiB each way, 16 KiB frames, small threshold", perStream: 4 << 20,
             config: YamuxConfig(maxFramePayload: 16 << 10, windowUpdateThreshold: 4096), maxChunk: 9000),
    ]

    @Test(arguments: cases)
    func transfer(_ c: Case) throws {
        let (client, server) = try run(c, streamsEach: 2)
        for end in [client, server] {
            #expect(end.received.count == 4)
            #expect(end.received.values.allSatisfy { $0 == c.perStream })
            #expect(end.mismatches == 0)
            #expect(end.closed.count == 4)
            #expect(end.resets == 0)
            #expect(end.session.streamCount == 0)
            #expect(end.session.pendingOutboundCount == 0)
        }
        if c.config.maxWindow == YamuxFrame.initialWindow {
            // 4 MiB through a 256 KiB window must have blocked and been reopened.
            #expect(client.windowOpened > 0 && server.windowOpened > 0)
        }
    }

    @Test func transferDripFedOneByteAtATime() throws {
        let c = Case(name: "drip", perStream: 100_000, config: YamuxConfig(maxFramePayload: 3000), maxChunk: 1)
        let (client, server) = try run(c, streamsEach: 1)
        for end in [client, server] {
            #expect(end.received.values.sorted() == [100_000, 100_000])
            #expect(end.mismatches == 0)
            #expect(end.closed.count == 2)
        }
    }

    // MARK: harness

    /// Byte `k` of stream `id` is `(k + 17 * id) % 251`; `source` lets a chunk be compared with memcmp.
    static let source: [UInt8] = (0 ..< (251 + (1 << 20))).map { UInt8($0 % 251) }
    static func patternStart(_ id: UInt32, _ offset: Int) -> Int { (offset + 17 * Int(id)) % 251 }

    final class Endpoint {
        let session: YamuxSession
        let perStream: Int
        let deferConsume: Bool
        var sendRemaining: [UInt32: Int] = [:]
        var sent: [UInt32: Int] = [:]
        var received: [UInt32: Int] = [:]
        var unconsumed: [UInt32: Int] = [:]
        var closed: Set<UInt32> = []
        var mismatches = 0
        var resets = 0
        var windowOpened = 0

        init(_ role: YamuxRole, _ c: Case) {
            session = YamuxSession(role: role, config: c.config)
            perStream = c.perStream
            deferConsume = c.deferConsume
        }

        func start(_ id: UInt32) {
            sendRemaining[id] = perStream
            sent[id] = 0
            received[id] = 0
        }

        func handle(_ e: YamuxEvent) {
            switch e {
            case .inboundStream(let id):
                start(id)
            case .data(let id, let raw):
                let offset = received[id, default: 0]
                let same = YamuxTransferTests.source.withUnsafeBytes { src in
                    memcmp(raw.baseAddress!, src.baseAddress! + YamuxTransferTests.patternStart(id, offset), raw.count) == 0
                }
                if !same { mismatches += 1 }
                received[id] = offset + raw.count
                if deferConsume { unconsumed[id, default: 0] += raw.count } else { session.consumed(stream: id, raw.count) }
            case .sendWindowOpened:
                windowOpened += 1
            case .streamClosed(let id):
                closed.insert(id)
            case .reset:
                resets += 1
            case .remoteClosedWrite, .pong, .goAway:
                break
            }
        }

        /// Sends what the windows allow, then FIN once a stream's data is all out.
        func push() -> Bool {
            var progress = false
            for (id, remaining) in sendRemaining where remaining > 0 {
                let offset = sent[id]!
                let n = min(remaining, 1 << 20)
                let start = YamuxTransferTests.patternStart(id, offset)
                let taken = YamuxTransferTests.source.withUnsafeBytes { src in
                    session.send(stream: id, UnsafeRawBufferPointer(rebasing: src[start ..< start + n]))
                }
                guard taken > 0 else { continue }
                progress = true
                sent[id] = offset + taken
                sendRemaining[id] = remaining - taken
                if remaining == taken, session.closeWrite(stream: id) { closed.insert(id) }
            }
            return progress
        }

        func releaseConsumed() {
            for (id, n) in unconsumed { session.consumed(stream: id, n) }
            unconsumed.removeAll(keepingCapacity: true)
        }
    }

    struct XorShift {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(state % UInt64(bound)) + 1
        }
    }

    /// Moves `from`'s pending output into `to` in random pieces of at most `maxChunk` bytes,
    /// straight from the output buffer (no copy).
    static func pipe(_ from: Endpoint, _ to: Endpoint, _ maxChunk: Int, _ rng: inout XorShift) throws {
        while from.session.hasOutput {
            let n = maxChunk == 1 ? 1 : rng.next(maxChunk)
            try from.session.drainOutput { (raw) throws(YamuxError) -> Int in
                let piece = UnsafeRawBufferPointer(rebasing: raw.prefix(n))
                try to.session.receive(piece) { to.handle($0) }
                return piece.count
            }
        }
    }

    func run(_ c: Case, streamsEach: Int) throws -> (Endpoint, Endpoint) {
        let client = Endpoint(.client, c)
        let server = Endpoint(.server, c)
        for _ in 0 ..< streamsEach {
            client.start(try client.session.openStream())
            server.start(try server.session.openStream())
        }
        var rng = XorShift(state: 0x9E37_79B9_7F4A_7C15)
        var rounds = 0
        while true {
            var progress = client.push()
            progress = server.push() || progress
            progress = client.session.hasOutput || server.session.hasOutput || progress
            try Self.pipe(client, server, c.maxChunk, &rng)
            try Self.pipe(server, client, c.maxChunk, &rng)
            client.releaseConsumed()
            server.releaseConsumed()
            progress = client.session.hasOutput || server.session.hasOutput || progress
            if !progress { break }
            rounds += 1
            try #require(rounds < 100_000, "transfer made no headway")
        }
        return (client, server)
    }
}
