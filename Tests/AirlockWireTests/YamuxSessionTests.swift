import Testing
@testable import AirlockWire

/// Session rules of wire.md §4 and §9 P7, driven by hand-built frames.
@Suite struct YamuxSessionTests {
    static let window = Int(YamuxFrame.initialWindow)

    /// A mixed script from a client to a server: open with data, more data, a window update,
    /// frames for an unknown stream, ping, FIN, GoAway.
    static let script: [UInt8] =
        dataFrame(1, .syn, [1, 2, 3])
        + dataFrame(1, [], Array(0 ..< 200))
        + frame(.windowUpdate, [], 1, 1000)
        + dataFrame(7, [], [9, 9, 9, 9])          // unknown stream: body skipped
        + frame(.windowUpdate, [], 9, 5)           // unknown stream: ignored
        + frame(.ping, .syn, 0, 0xDEAD_BEEF)
        + frame(.windowUpdate, .syn, 3, 0)
        + dataFrame(3, .fin, [7])
        + dataFrame(1, [], [])                      // zero-length data frame
        + frame(.windowUpdate, .fin, 1, 0)
        + frame(.goAway, [], 0, 0x1006)

    static let scriptEvents: [Ev] = [
        .inbound(1), .data(1, [1, 2, 3]), .data(1, Array(0 ..< 200)), .inbound(3), .data(3, [7]), .fin(3),
        .fin(1), .goAway(0x1006),
    ]

    @Test func scriptWhole() throws {
        let s = YamuxSession(role: .server)
        #expect(merged(try s.feed(Self.script)) == merged(Self.scriptEvents))
        #expect(s.takeOutput() == frame(.windowUpdate, .ack, 1, 0) + frame(.ping, .ack, 0, 0xDEAD_BEEF)
            + frame(.windowUpdate, .ack, 3, 0))
        #expect(s.sendWindow(stream: 1) == Self.window + 1000)
        #expect(s.remoteGoneAway)
    }

    @Test func scriptDripFedOneByteAtATime() throws {
        let whole = YamuxSession(role: .server)
        let wholeEvents = merged(try whole.feed(Self.script))
        let drip = YamuxSession(role: .server)
        #expect(try drip.drip(Self.script) == wholeEvents)
        #expect(drip.takeOutput() == whole.takeOutput())
    }

    @Test func scriptSplitAtEveryOffset() throws {
        let expected = merged(Self.scriptEvents)
        for cut in 0 ... Self.script.count {
            let s = YamuxSession(role: .server)
            let events = try s.feed(Array(Self.script[..<cut])) + s.feed(Array(Self.script[cut...]))
            #expect(merged(events) == expected, "cut at \(cut)")
        }
    }

    // MARK: fatal protocol errors

    private func expectFatal(_ role: YamuxRole, _ input: [UInt8], _ error: YamuxError,
                             config: YamuxConfig = YamuxConfig(), sourceLocation: SourceLocation = #_sourceLocation) {
        let s = YamuxSession(role: role, config: config)
        #expect(throws: error, sourceLocation: sourceLocation) { try s.feed(input) }
        let out = parseFrames(s.takeOutput())
        #expect(out.last?.0 == YamuxHeader(type: .goAway, flags: [], streamID: 0, length: 1), sourceLocation: sourceLocation)
        #expect(s.failure == error, sourceLocation: sourceLocation)
        // Dead for good: later input fails the same way and nothing more is sent.
        #expect(throws: error, sourceLocation: sourceLocation) { try s.feed(frame(.ping, .syn, 0, 1)) }
        #expect(!s.hasOutput, sourceLocation: sourceLocation)
        #expect(throws: YamuxError.sessionFailed, sourceLocation: sourceLocation) { try s.openStream() }
        #expect(error.isFatal, sourceLocation: sourceLocation)
    }

    @Test func badVersionIsFatal() {
        expectFatal(.server, hex("01 00 0000 00000001 00000000"), .badVersion(1))
        expectFatal(.server, hex("ff 02 0001 00000000 00000000"), .badVersion(0xFF))
    }

    @Test func badTypeIsFatal() {
        expectFatal(.server, hex("00 04 0000 00000001 00000000"), .badType(4))
        expectFatal(.client, hex("00 ff 0000 00000000 00000000"), .badType(0xFF))
    }

    @Test func badHeaderDripFedIsFatalOnTheLastByte() throws {
        let s = YamuxSession(role: .server)
        let bad = hex("00 05 0000 00000001 00000000")
        for b in bad.dropLast() { #expect(try s.feed([b]) == []) }
        #expect(throws: YamuxError.badType(5)) { try s.feed([bad.last!]) }
    }

    @Test func streamFramesOnStreamZeroAreFatal() {
        expectFatal(.server, dataFrame(0, [], [1]), .streamFrameOnSession(type: 0))
        expectFatal(.server, frame(.windowUpdate, .syn, 0, 0), .streamFrameOnSession(type: 1))
    }

    @Test func wrongParityIsFatal() {
        expectFatal(.server, frame(.windowUpdate, .syn, 2, 0), .wrongParity(2))
        expectFatal(.client, frame(.windowUpdate, .syn, 1, 0), .wrongParity(1))
        expectFatal(.client, dataFrame(5, .syn, [1]), .wrongParity(5))
    }

    @Test func duplicateSynIsFatal() {
        expectFatal(.server, frame(.windowUpdate, .syn, 1, 0) + dataFrame(1, .syn, [1]), .duplicateStream(1))
    }

    @Test func synAfterStreamClosedOpensItAgain() throws {
        // go frees the ID on close, so a SYN for it is a new stream, not a duplicate.
        let s = YamuxSession(role: .server)
        _ = try s.feed(frame(.windowUpdate, .syn, 1, 0) + frame(.windowUpdate, .rst, 1, 0))
        #expect(try s.feed(frame(.windowUpdate, .syn, 1, 0)) == [.inbound(1)])
    }

    @Test func windowOverrunInOneFrameIsFatal() throws {
        let ok = YamuxSession(role: .server)
        let full = [UInt8](repeating: 0xAB, count: Self.window)
        #expect(merged(try ok.feed(dataFrame(1, .syn, full))) == [.inbound(1), .data(1, full)])
        expectFatal(.server, frame(.data, .syn, 1, YamuxFrame.initialWindow + 1),
                    .windowExceeded(stream: 1, length: YamuxFrame.initialWindow + 1, window: YamuxFrame.initialWindow))
    }

    @Test func windowOverrunAcrossFramesIsFatal() throws {
        let s = YamuxSession(role: .server)
        let half = [UInt8](repeating: 1, count: Self.window / 2)
        _ = try s.feed(dataFrame(1, .syn, half) + dataFrame(1, [], half))
        #expect(throws: YamuxError.windowExceeded(stream: 1, length: 1, window: 0)) { try s.feed(dataFrame(1, [], [1])) }
    }

    @Test func consumedReopensTheWindow() throws {
        let s = YamuxSession(role: .server)
        let half = [UInt8](repeating: 1, count: Self.window / 2)
        _ = try s.feed(dataFrame(1, .syn, half) + dataFrame(1, [], half))
        _ = s.takeOutput()
        s.consumed(stream: 1, Self.window / 2 - 1)
        #expect(!s.hasOutput)                          // below the threshold: no update yet
        s.consumed(stream: 1, 1)
        #expect(s.takeOutput() == frame(.windowUpdate, [], 1, UInt32(Self.window / 2)))
        _ = try s.feed(dataFrame(1, [], half))
        #expect(throws: YamuxError.self) { try s.feed(dataFrame(1, [], [1])) }
    }

    @Test func consumedNeverGrantsMoreThanDelivered() throws {
        let s = YamuxSession(role: .server, config: YamuxConfig(windowUpdateThreshold: 1))
        _ = try s.feed(dataFrame(1, .syn, [1, 2, 3]))
        _ = s.takeOutput()
        s.consumed(stream: 1, 1_000_000)
        #expect(s.takeOutput() == frame(.windowUpdate, [], 1, 3))
        s.consumed(stream: 1, 5)
        #expect(!s.hasOutput)
        s.consumed(stream: 99, 5)                      // unknown stream: ignored
        #expect(!s.hasOutput)
    }

    @Test func largerWindowIsGrantedOnOpenAndAccept() throws {
        let config = YamuxConfig(maxWindow: 16 << 20)
        let delta = UInt32(16 << 20) - YamuxFrame.initialWindow
        let client = YamuxSession(role: .client, config: config)
        #expect(try client.openStream() == 1)
        let open = client.takeOutput()
        #expect(open == frame(.windowUpdate, .syn, 1, delta))
        let server = YamuxSession(role: .server, config: config)
        _ = try server.feed(open)
        #expect(server.sendWindow(stream: 1) == 16 << 20)
        let accept = server.takeOutput()
        #expect(accept == frame(.windowUpdate, .ack, 1, delta))
        _ = try client.feed(accept)
        #expect(client.sendWindow(stream: 1) == 16 << 20)
        // The grant is honoured: a full 16 MiB frame is accepted.
        #expect(throws: Never.self) { try server.feed(frame(.data, [], 1, 16 << 20)) }
    }

    @Test func sendWindowOverflowIsFatal() throws {
        let s = YamuxSession(role: .server)
        _ = try s.feed(frame(.windowUpdate, .syn, 1, UInt32.max - YamuxFrame.initialWindow))
        #expect(s.sendWindow(stream: 1) == Int(UInt32.max))
        #expect(throws: YamuxError.windowOverflow(stream: 1, delta: 1)) { try s.feed(frame(.windowUpdate, [], 1, 1)) }
        expectFatal(.server, frame(.windowUpdate, .syn, 1, UInt32.max), .windowOverflow(stream: 1, delta: UInt32.max))
    }

    // MARK: stream lifecycle

    @Test func ackIsSentExactlyOncePerInboundStream() throws {
        let s = YamuxSession(role: .server)
        _ = try s.feed(dataFrame(1, .syn, [1]) + frame(.windowUpdate, [], 1, 10))
        [UInt8](repeating: 5, count: 100).withUnsafeBytes { _ = s.send(stream: 1, $0) }
        s.consumed(stream: 1, 1)
        s.closeWrite(stream: 1)
        let frames = parseFrames(s.takeOutput())
        #expect(frames.filter { $0.0.flags.contains(.ack) }.count == 1)
        #expect(frames.first?.0.flags == .ack)
    }

    @Test func synIsAcceptedOnDataAndWindowUpdateAndOtherFlagsTogether() throws {
        let s = YamuxSession(role: .server)
        #expect(merged(try s.feed(dataFrame(1, [.syn, .fin], [4, 2]))) == [.inbound(1), .data(1, [4, 2]), .fin(1)])
        #expect(try s.feed(frame(.windowUpdate, [.syn, .fin], 3, 0)) == [.inbound(3), .fin(3)])
        #expect(try s.feed(frame(.windowUpdate, [.syn, .rst], 5, 0)) == [.inbound(5), .reset(5, 0)])
        #expect(s.streamCount == 2)
    }

    @Test func halfCloseBothWaysFreesTheStream() throws {
        let client = YamuxSession(role: .client)
        let id = try client.openStream()
        #expect(client.closeWrite(stream: id) == false)
        #expect(client.closeWrite(stream: id) == false)   // second FIN is not sent
        #expect(parseFrames(client.takeOutput()).count == 2)
        #expect(client.sendWindow(stream: id) == 0)
        #expect(client.isReadable(stream: id))
        #expect(try client.feed(frame(.data, [.ack, .fin], id, 0)) == [.fin(id), .closed(id)])
        #expect(client.streamCount == 0 && client.pendingOutboundCount == 0)
    }

    @Test func ownerCloseCompletesAfterRemoteFin() throws {
        let s = YamuxSession(role: .server)
        _ = try s.feed(frame(.windowUpdate, [.syn, .fin], 1, 0))
        #expect(s.sendWindow(stream: 1) == Self.window)   // still writable
        #expect(s.closeWrite(stream: 1) == true)
        #expect(!s.isOpen(stream: 1) && s.inboundStreamCount == 0)
    }

    @Test func dataAfterRemoteFinIsSkipped() throws {
        let s = YamuxSession(role: .server)
        _ = try s.feed(frame(.windowUpdate, [.syn, .fin], 1, 0))
        #expect(try s.feed(dataFrame(1, [], [1, 2]) + frame(.ping, .ack, 0, 4)) == [.pong(4)])
    }

    @Test func remoteResetCarriesGoYamuxCode() throws {
        let s = YamuxSession(role: .server)
        _ = try s.feed(frame(.windowUpdate, .syn, 1, 0))
        #expect(try s.feed(frame(.windowUpdate, .rst, 1, 0x1002)) == [.reset(1, 0x1002)])
        #expect(s.streamCount == 0 && s.inboundStreamCount == 0)
        // The code was not taken as window credit, and later frames for the ID are ignored.
        #expect(try s.feed(dataFrame(1, [], [1, 2, 3]) + frame(.ping, .ack, 0, 9)) == [.pong(9)])
    }

    @Test func dataResetSkipsItsBody() throws {
        let s = YamuxSession(role: .server)
        _ = try s.feed(frame(.windowUpdate, .syn, 1, 0))
        #expect(try s.drip(dataFrame(1, .rst, [1, 2, 3]) + frame(.ping, .ack, 0, 2)) == [.reset(1, 0), .pong(2)])
    }

    @Test func ownerResetSendsCodeAndFreesStream() throws {
        let client = YamuxSession(role: .client)
        let id = try client.openStream()
        _ = client.takeOutput()
        client.reset(stream: id, code: 0x1001)
        #expect(client.takeOutput() == frame(.windowUpdate, .rst, id, 0x1001))
        #expect(client.streamCount == 0 && client.pendingOutboundCount == 0)
        client.reset(stream: id)
        #expect(!client.hasOutput)
    }

    @Test func ownerResetInsideDataCallbackDropsTheRestOfTheFrame() throws {
        let s = YamuxSession(role: .server)
        let body = [UInt8](repeating: 3, count: 100)
        let bytes = dataFrame(1, [.syn, .fin], body) + frame(.ping, .ack, 0, 1)
        var events: [Ev] = []
        try bytes[..<62].withUnsafeBytes { raw in
            try s.receive(raw) { e in
                events.append(Ev(e))
                if case .data(let id, _) = e { s.reset(stream: id) }
            }
        }
        events += try s.feed(Array(bytes[62...]))
        #expect(events == [.inbound(1), .data(1, Array(body[..<50])), .pong(1)])
    }

    @Test func unknownStreamBodiesAreSkippedEvenWhenLarge() throws {
        let s = YamuxSession(role: .client)
        let big = [UInt8](repeating: 0, count: 300_000)   // over any window: still only skipped
        #expect(try s.drip(dataFrame(2, [], Array(big.prefix(5000)))) == [])
        #expect(try s.feed(dataFrame(4, [.ack], big) + frame(.ping, .ack, 0, 3)) == [.pong(3)])
        #expect(!s.hasOutput)
    }

    // MARK: limits

    @Test func inboundStreamCapResetsTheExtraStream() throws {
        let s = YamuxSession(role: .server, config: YamuxConfig(maxInboundStreams: 2))
        _ = try s.feed(frame(.windowUpdate, .syn, 1, 0) + frame(.windowUpdate, .syn, 3, 0))
        _ = s.takeOutput()
        #expect(try s.feed(dataFrame(5, .syn, [1, 2, 3]) + frame(.ping, .ack, 0, 8)) == [.pong(8)])
        #expect(s.takeOutput() == frame(.windowUpdate, .rst, 5, 0))
        #expect(s.inboundStreamCount == 2)
        // Once one closes, a new stream is accepted again.
        _ = try s.feed(frame(.windowUpdate, .rst, 1, 0))
        #expect(try s.feed(frame(.windowUpdate, .syn, 7, 0)) == [.inbound(7)])
    }

    @Test func endlessOpenCloseLoopKeepsTheTableSmall() throws {
        let s = YamuxSession(role: .server, config: YamuxConfig(maxInboundStreams: 4))
        var id: UInt32 = 1
        var maxLive = 0
        for round in 0 ..< 20_000 {
            let bytes = round % 2 == 0
                ? dataFrame(id, [.syn, .fin], [1, 2, 3])
                : frame(.windowUpdate, .syn, id, 0) + frame(.windowUpdate, .rst, id, 0)
            try bytes.withUnsafeBytes { raw in
                try s.receive(raw) { e in
                    if case .data(let sid, let d) = e { s.consumed(stream: sid, d.count) }
                    if case .remoteClosedWrite(let sid) = e { s.closeWrite(stream: sid) }
                }
            }
            maxLive = max(maxLive, s.streamCount)
            s.drainOutput { $0.count }
            id &+= 2
        }
        #expect(maxLive <= 1)
        #expect(s.streamCount == 0 && s.inboundStreamCount == 0)
        #expect(s.streams.capacity < 64)
    }

    @Test func pendingOutboundCapThrowsUntilAcked() throws {
        let s = YamuxSession(role: .client, config: YamuxConfig(maxPendingOutbound: 2))
        #expect(try s.openStream() == 1)
        #expect(try s.openStream() == 3)
        #expect(throws: YamuxError.tooManyPendingStreams) { try s.openStream() }
        #expect(!YamuxError.tooManyPendingStreams.isFatal)
        _ = try s.feed(frame(.windowUpdate, .ack, 1, 0))
        #expect(try s.openStream() == 5)
        _ = try s.feed(frame(.windowUpdate, .rst, 3, 0))   // a refused stream no longer counts
        #expect(try s.openStream() == 7)
        #expect(s.pendingOutboundCount == 2)
    }

    @Test func anyFrameFromTheRemoteAcknowledgesOurStream() throws {
        let s = YamuxSession(role: .client, config: YamuxConfig(maxPendingOutbound: 1))
        let id = try s.openStream()
        #expect(throws: YamuxError.tooManyPendingStreams) { try s.openStream() }
        #expect(try s.feed(dataFrame(id, [], [1])) == [.data(id, [1])])
        #expect(s.pendingOutboundCount == 0)
        #expect(try s.openStream() == id + 2)
    }

    @Test func streamIDsRunOutWithoutWrapping() throws {
        let s = YamuxSession(role: .client)
        s.nextStreamID = UInt64(UInt32.max)
        #expect(try s.openStream() == UInt32.max)
        #expect(throws: YamuxError.streamIDsExhausted) { try s.openStream() }
        let server = YamuxSession(role: .server)
        #expect(try server.openStream() == 2)
        #expect(try server.openStream() == 4)
    }

    // MARK: send

    @Test func sendHonoursWindowAndFrameSize() throws {
        let s = YamuxSession(role: .client, config: YamuxConfig(maxFramePayload: 100_000))
        let id = try s.openStream()
        _ = s.takeOutput()
        let data = [UInt8](repeating: 0x5A, count: 300_000)
        #expect(data.withUnsafeBytes { s.send(stream: id, $0) } == Self.window)
        let frames = parseFrames(s.takeOutput())
        #expect(frames.map { $0.0.length } == [100_000, 100_000, UInt32(Self.window - 200_000)])
        #expect(frames.allSatisfy { $0.0.type == 0 && $0.0.flags == [] && $0.1.allSatisfy { $0 == 0x5A } })
        #expect(data.withUnsafeBytes { s.send(stream: id, $0) } == 0)
        #expect(try s.feed(frame(.windowUpdate, .ack, id, 10)) == [.opened(id)])
        #expect(try s.feed(frame(.windowUpdate, [], id, 10)) == [])   // not blocked any more
        #expect(data.withUnsafeBytes { s.send(stream: id, $0) } == 20)
        #expect([UInt8]().withUnsafeBytes { s.send(stream: id, $0) } == 0)
        #expect(data.withUnsafeBytes { s.send(stream: 99, $0) } == 0)
    }

    @Test func zeroLengthDataFramesAreAllowed() throws {
        let s = YamuxSession(role: .server)
        #expect(try s.feed(frame(.data, .syn, 1, 0)) == [.inbound(1)])
        #expect(try s.feed(frame(.data, [], 1, 0)) == [])
        #expect(try s.feed(frame(.data, .fin, 1, 0)) == [.fin(1)])
    }

    // MARK: session frames

    @Test func pingIsAnsweredWithSameValue() throws {
        let s = YamuxSession(role: .server)
        _ = try s.drip(frame(.ping, .syn, 0, 0x0102_0304) + frame(.ping, [], 0, 5))
        #expect(s.takeOutput() == frame(.ping, .ack, 0, 0x0102_0304))
        #expect(s.ping() == 1)
        #expect(s.ping() == 2)
        #expect(try s.feed(frame(.ping, .ack, 0, 2)) == [.pong(2)])
    }

    @Test func receivedGoAwayStopsNewStreams() throws {
        let s = YamuxSession(role: .client)
        let id = try s.openStream()
        #expect(try s.feed(frame(.goAway, [], 0, 2)) == [.goAway(2)])
        #expect(throws: YamuxError.remoteWentAway) { try s.openStream() }
        #expect(s.sendWindow(stream: id) == Self.window)   // existing streams go on
        _ = try s.feed(frame(.goAway, [], 0, 0xFFFF_FFFF))  // any code is accepted
    }

    @Test func sentGoAwayRefusesInboundStreams() throws {
        let s = YamuxSession(role: .server)
        _ = try s.feed(frame(.windowUpdate, .syn, 1, 0))
        _ = s.takeOutput()
        s.goAway(.normal)
        s.goAway(.internalError)                           // sent once only
        #expect(s.takeOutput() == frame(.goAway, [], 0, 0))
        #expect(try s.feed(dataFrame(3, .syn, [1, 2]) + dataFrame(1, [], [6])) == [.data(1, [6])])
        #expect(s.takeOutput() == frame(.windowUpdate, .rst, 3, 0))
        #expect(throws: YamuxError.localWentAway) { try s.openStream() }
    }

    // MARK: output

    @Test func drainOutputInPieces() throws {
        let s = YamuxSession(role: .client)
        for _ in 0 ..< 1000 { _ = try s.openStream(); s.reset(stream: s.nextStreamID.toID - 2) }
        let total = s.outputCount
        #expect(total == 1000 * 24)
        var collected: [UInt8] = []
        while s.hasOutput { s.drainOutput { raw in collected += raw.prefix(5000); return min(5000, raw.count) } }
        #expect(collected.count == total)
        #expect(parseFrames(collected).count == 2000)
    }
}

private extension UInt64 {
    var toID: UInt32 { UInt32(self) }
}
