import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct MultistreamListenerTests {
    let header = MultistreamMessage.encode(ProtocolID.multistream)
    let na = MultistreamMessage.encode("na")
    let supported = [ProtocolID.noise, ProtocolID.yamux]
    let noiseMsg1 = [0x00, 0x20] + [UInt8](repeating: 0x5a, count: 32)

    @Test func headerFirstThenEchoAndLeftover() throws {
        var l = MultistreamListener(supported: supported)
        #expect(l.start() == header)
        // A rust V1Lazy dialer sends header, proposal and Noise message 1 in one write (wire.md §1.3).
        let step = try l.feed(header + MultistreamMessage.encode(ProtocolID.noise) + noiseMsg1)
        #expect(step.output == MultistreamMessage.encode(ProtocolID.noise))
        #expect(step.outcome == .selected(protocol: ProtocolID.noise, leftover: noiseMsg1))
    }

    @Test func headerGoesWithTheAnswerWhenNotStarted() throws {
        var l = MultistreamListener(supported: supported)
        let step = try l.feed(header + MultistreamMessage.encode(ProtocolID.yamux))
        #expect(step.output == header + MultistreamMessage.encode(ProtocolID.yamux))
    }

    @Test func refusesTLSThenAcceptsNoise() throws {
        // go proposes /tls/1.0.0 first (wire.md §9 P2).
        var l = MultistreamListener(supported: supported)
        _ = l.start()
        let step1 = try l.feed(header + MultistreamMessage.encode("/tls/1.0.0"))
        #expect(step1 == MultistreamStep(output: na, outcome: .pending))
        let step2 = try l.feed(MultistreamMessage.encode(ProtocolID.noise))
        #expect(step2.outcome == .selected(protocol: ProtocolID.noise, leftover: []))
    }

    @Test func answersLsAndNaWithNa() throws {
        var l = MultistreamListener(supported: supported)
        _ = l.start()
        let step = try l.feed(header + MultistreamMessage.encode("ls") + MultistreamMessage.encode("na") + MultistreamMessage.encode(ProtocolID.multistream))
        #expect(step == MultistreamStep(output: na + na + na, outcome: .pending))
    }

    @Test func dripFed() throws {
        var l = MultistreamListener(supported: supported)
        _ = l.start()
        let input = header + MultistreamMessage.encode("/tls/1.0.0") + MultistreamMessage.encode(ProtocolID.noise) + noiseMsg1
        let acceptEnd = input.count - noiseMsg1.count
        var output: [UInt8] = []
        for (i, b) in input.prefix(acceptEnd).enumerated() {
            let step = try l.feed([b])
            output += step.output
            #expect(step.outcome == (i == acceptEnd - 1 ? .selected(protocol: ProtocolID.noise, leftover: []) : .pending))
        }
        #expect(output == na + MultistreamMessage.encode(ProtocolID.noise))
    }

    @Test func attemptCap() throws {
        var ok = MultistreamListener(supported: supported, maxAttempts: 16)
        var input = header
        for i in 0..<15 { input += MultistreamMessage.encode("/x/\(i)") }
        input += MultistreamMessage.encode(ProtocolID.noise)
        #expect(try ok.feed(input).outcome == .selected(protocol: ProtocolID.noise, leftover: []))

        var capped = MultistreamListener(supported: supported, maxAttempts: 16)
        var flood = header
        for i in 0..<16 { flood += MultistreamMessage.encode("/x/\(i)") }
        #expect(try capped.feed(flood) == MultistreamStep(output: header + Array([[UInt8]](repeating: na, count: 16).joined()), outcome: .pending))
        #expect(throws: MultistreamError.tooManyAttempts(cap: 16)) { try capped.feed(MultistreamMessage.encode(ProtocolID.noise)) }
    }

    @Test func hostilePeer() {
        var a = MultistreamListener(supported: supported)
        #expect(throws: MultistreamError.unexpectedHeader(ProtocolID.noise)) { try a.feed(MultistreamMessage.encode(ProtocolID.noise)) }
        var b = MultistreamListener(supported: supported)
        #expect(throws: MultistreamError.self) { try b.feed([0x16, 0x03, 0x01, 0x02, 0x00] + [UInt8](repeating: 0, count: 40)) }   // a TLS ClientHello
        var c = MultistreamListener(supported: supported)
        #expect(throws: MultistreamError.malformed(.tooLarge(what: "multistream message", size: 2048, cap: 1024))) {
            try c.feed(header + [0x80, 0x10])
        }
        var d = MultistreamListener(supported: supported)
        #expect(throws: MultistreamError.malformed(.nonMinimalVarint)) { try d.feed([0x93, 0x00]) }
    }

    @Test func dialerAndListenerAgree() throws {
        for lazy in [false, true] {
            var d = MultistreamDialer(protocols: lazy ? [ProtocolID.yamux] : ["/mplex/6.7.0", "/tls/1.0.0", ProtocolID.yamux], lazy: lazy)
            var l = MultistreamListener(supported: supported)
            let app: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
            var toListener = d.start() + (lazy ? app : [])
            var toDialer = l.start()
            var dialerDone: MultistreamStep.Outcome = .pending, listenerDone: MultistreamStep.Outcome = .pending
            for _ in 0..<10 where dialerDone == .pending || listenerDone == .pending {
                if listenerDone == .pending, !toListener.isEmpty {
                    let s = try l.feed(toListener); toListener = []
                    toDialer += s.output; listenerDone = s.outcome
                }
                if dialerDone == .pending, !toDialer.isEmpty {
                    let s = try d.feed(toDialer); toDialer = []
                    toListener += s.output; dialerDone = s.outcome
                }
            }
            #expect(dialerDone == .selected(protocol: ProtocolID.yamux, leftover: []))
            #expect(listenerDone == .selected(protocol: ProtocolID.yamux, leftover: lazy ? app : []))
        }
    }
}
