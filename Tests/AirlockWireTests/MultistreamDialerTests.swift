import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct MultistreamDialerTests {
    let header = MultistreamMessage.encode(ProtocolID.multistream)
    let na = MultistreamMessage.encode("na")
    let noiseMsg1 = [UInt8](repeating: 0xab, count: 34)   // stands for `00 20 <32-byte ephemeral>`

    @Test func firstWriteIsHeaderAndProposal() {
        var d = MultistreamDialer(proposing: ProtocolID.noise)
        #expect(d.start() == hex("13 2f6d756c746973747265616d2f312e302e30 0a 07 2f6e6f697365 0a"))
        #expect(d.start().isEmpty)
        #expect(!d.mayWriteApplicationData)
    }

    @Test func selectsAndKeepsLeftover() throws {
        var d = MultistreamDialer(proposing: ProtocolID.noise)
        _ = d.start()
        let step = try d.feed(header + MultistreamMessage.encode(ProtocolID.noise) + noiseMsg1)
        #expect(step == MultistreamStep(output: [], outcome: .selected(protocol: ProtocolID.noise, leftover: noiseMsg1)))
        #expect(d.mayWriteApplicationData)
        #expect(d.selected == ProtocolID.noise)
    }

    @Test func dripFed() throws {
        var d = MultistreamDialer(proposing: ProtocolID.yamux)
        let first = d.start()
        #expect(!first.isEmpty)
        let reply = header + MultistreamMessage.encode(ProtocolID.yamux)
        for (i, b) in reply.enumerated() {
            let step = try d.feed([b])
            #expect(step.output.isEmpty)
            if i == reply.count - 1 {
                #expect(step.outcome == .selected(protocol: ProtocolID.yamux, leftover: []))
            } else {
                #expect(step.outcome == .pending)
            }
        }
    }

    @Test func everySplitGivesTheSameLeftover() throws {
        let reply = header + MultistreamMessage.encode(ProtocolID.noise) + noiseMsg1
        for cut in 0...reply.count {
            var d = MultistreamDialer(proposing: ProtocolID.noise)
            _ = d.start()
            var step = try d.feed(reply[..<cut])
            var leftover: [UInt8] = []
            if case .selected(_, let l) = step.outcome {
                leftover = l + reply[cut...]
            } else {
                step = try d.feed(reply[cut...])
                guard case .selected(_, let l) = step.outcome else { Issue.record("not selected at cut \(cut)"); continue }
                leftover = l
            }
            #expect(leftover == noiseMsg1, "cut \(cut)")
        }
    }

    @Test func naThenAccept() throws {
        var d = MultistreamDialer(protocols: ["/tls/1.0.0", ProtocolID.noise])
        #expect(d.start().suffix(12) == MultistreamMessage.encode("/tls/1.0.0")[...])
        let step1 = try d.feed(header + na)
        #expect(step1 == MultistreamStep(output: MultistreamMessage.encode(ProtocolID.noise), outcome: .pending))
        #expect(d.proposed == ProtocolID.noise)
        let step2 = try d.feed(MultistreamMessage.encode(ProtocolID.noise))
        #expect(step2.outcome == .selected(protocol: ProtocolID.noise, leftover: []))
    }

    @Test func allRefused() throws {
        var d = MultistreamDialer(protocols: ["/a", "/b"])
        let step = try d.feed(header + na + na)   // feed without start(): start output comes first
        #expect(step.output == header + MultistreamMessage.encode("/a") + MultistreamMessage.encode("/b"))
        #expect(step.outcome == .noneSupported)
        #expect(!d.mayWriteApplicationData)
    }

    @Test func lazyModeMayWriteEarlyAndStillChecksTheEcho() throws {
        var d = MultistreamDialer(proposing: ProtocolID.hop, lazy: true)
        #expect(!d.mayWriteApplicationData)
        _ = d.start()
        #expect(d.mayWriteApplicationData)
        let reply = header + MultistreamMessage.encode(ProtocolID.hop) + hex("0c080222060878108080082864")
        #expect(try d.feed(reply.prefix(10)).outcome == .pending)
        #expect(try d.feed(reply.dropFirst(10)).outcome == .selected(protocol: ProtocolID.hop, leftover: hex("0c080222060878108080082864")))

        var refused = MultistreamDialer(proposing: ProtocolID.hop, lazy: true)
        _ = refused.start()
        #expect(try refused.feed(header + na).outcome == .noneSupported)
        #expect(!refused.mayWriteApplicationData && refused.selected == nil)

        var wrong = MultistreamDialer(proposing: ProtocolID.hop, lazy: true)
        _ = wrong.start()
        #expect(throws: MultistreamError.unexpectedReply(proposed: ProtocolID.hop, got: ProtocolID.stop)) {
            try wrong.feed(header + MultistreamMessage.encode(ProtocolID.stop))
        }
    }

    @Test func feedFromCallerBufferLeavesTheRestThere() throws {
        var d = MultistreamDialer(proposing: ProtocolID.noise)
        var buf = ByteBuffer(header + MultistreamMessage.encode(ProtocolID.noise) + noiseMsg1)
        let step = try d.feed(from: &buf)
        #expect(step.outcome == .selected(protocol: ProtocolID.noise, leftover: []))
        #expect(buf.readAll() == noiseMsg1)
    }

    @Test func hostilePeer() {
        var a = MultistreamDialer(proposing: ProtocolID.noise)
        #expect(throws: MultistreamError.unexpectedHeader(ProtocolID.noise)) { try a.feed(MultistreamMessage.encode(ProtocolID.noise)) }
        var b = MultistreamDialer(proposing: ProtocolID.noise)
        #expect(throws: MultistreamError.unexpectedHeader("/multistream/2.0.0")) { try b.feed(MultistreamMessage.encode("/multistream/2.0.0")) }
        var c = MultistreamDialer(proposing: ProtocolID.noise)
        #expect(throws: MultistreamError.unexpectedReply(proposed: ProtocolID.noise, got: "ls")) { try c.feed(header + MultistreamMessage.encode("ls")) }
        var d = MultistreamDialer(proposing: ProtocolID.noise)
        #expect(throws: MultistreamError.self) { try d.feed(("GET / HTTP/1.1\r\nHost: relay.example\r\n" + String(repeating: "x", count: 80)).utf8) }
        var e = MultistreamDialer(proposing: ProtocolID.noise)
        #expect(throws: MultistreamError.malformed(.tooLarge(what: "multistream message", size: 16383, cap: 1024))) {
            try e.feed(header + [0xff, 0x7f])
        }
    }
}
