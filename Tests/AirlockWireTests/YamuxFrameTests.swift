import Testing
@testable import AirlockWire

/// Header codec and the example frames of wire.md §4.6, byte for byte.
@Suite struct YamuxFrameTests {
    @Test func headerEncodesBigEndianFields() {
        let h = YamuxHeader(type: .windowUpdate, flags: [.syn, .fin], streamID: 0x0102_0304, length: 0xA0B0_C0D0)
        #expect(h.bytes == hex("00 01 0005 01020304 a0b0c0d0"))
    }

    @Test func headerRoundTripsEveryTypeAndFlag() {
        for type in [YamuxFrameType.data, .windowUpdate, .ping, .goAway] {
            for flags in 0 ... UInt16(0xF) {
                let h = YamuxHeader(type: type, flags: YamuxFlags(rawValue: flags), streamID: 0xFFFF_FFFE, length: UInt32(flags) << 20)
                #expect(YamuxHeader(h.bytes) == h)
            }
        }
    }

    @Test func headerKeepsRawVersionAndType() {
        let h = YamuxHeader(hex("07 09 ffff ffffffff 00000001"))
        #expect(h?.version == 7)
        #expect(h?.type == 9)
        #expect(h?.flags.rawValue == 0xFFFF)
        #expect(h?.streamID == UInt32.max)
    }

    @Test func headerFromWrongCountIsNil() {
        #expect(YamuxHeader(hex("00 01 0001 00000001 000000")) == nil)
        #expect(YamuxHeader(hex("00 01 0001 00000001 00000000 00")) == nil)
        #expect(YamuxHeader([]) == nil)
    }

    @Test func headerParsesAtUnalignedOffset() {
        let bytes = [0xEE] + hex("00 00 0000 00000003 00000005")
        let h = bytes.withUnsafeBytes { YamuxHeader(parsing: $0, at: 1) }
        #expect(h == YamuxHeader(type: .data, flags: [], streamID: 3, length: 5))
    }

    // MARK: wire.md §4.6

    @Test func exampleOpenStream1() throws {
        let client = YamuxSession(role: .client)
        #expect(try client.openStream() == 1)
        #expect(client.takeOutput() == hex("00 01 0001 00000001 00000000"))
    }

    @Test func exampleAcceptStream1() throws {
        let server = YamuxSession(role: .server)
        let events = try server.feed(hex("00 01 0001 00000001 00000000"))
        #expect(events == [.inbound(1)])
        #expect(server.takeOutput() == hex("00 01 0002 00000001 00000000"))
    }

    @Test func exampleDataAndFinOnStream3() throws {
        let client = YamuxSession(role: .client)
        _ = try client.openStream()
        #expect(try client.openStream() == 3)
        _ = client.takeOutput()
        let payload: [UInt8] = [0x68, 0x65, 0x6C, 0x6C, 0x6F]
        #expect(payload.withUnsafeBytes { client.send(stream: 3, $0) } == 5)
        #expect(client.takeOutput() == hex("00 00 0000 00000003 00000005") + payload)
        #expect(client.closeWrite(stream: 3) == false)
        #expect(client.takeOutput() == hex("00 01 0004 00000003 00000000"))
    }

    @Test func examplePingRequestAndReply() throws {
        let client = YamuxSession(role: .client)
        let server = YamuxSession(role: .server)
        let value = client.ping()
        let request = client.takeOutput()
        #expect(request == hex("00 02 0001 00000000") + be32(value))
        #expect(try server.feed(request) == [])
        let reply = server.takeOutput()
        #expect(reply == hex("00 02 0002 00000000") + be32(value))
        #expect(try client.feed(reply) == [.pong(value)])
    }

    @Test func exampleGoAwayNormal() {
        let s = YamuxSession(role: .server)
        s.goAway(.normal)
        #expect(s.takeOutput() == hex("00 03 0000 00000000 00000000"))
    }

    @Test func goAwayCodesAreOpen() {
        #expect(YamuxGoAwayCode.protocolError.rawValue == 1)
        #expect(YamuxGoAwayCode.internalError.rawValue == 2)
        #expect(YamuxGoAwayCode(rawValue: 0x1006).description == "code 4102")
    }
}

// MARK: helpers shared by the yamux tests

// `hex(_:)` lives in Fixtures.swift.

func be32(_ v: UInt32) -> [UInt8] { YamuxHeader(type: .data, flags: [], streamID: 0, length: v).bytes.suffix(4).map { $0 } }

/// One frame's bytes (header plus body).
func frame(_ type: YamuxFrameType, _ flags: YamuxFlags, _ id: UInt32, _ length: UInt32, _ body: [UInt8] = []) -> [UInt8] {
    YamuxHeader(type: type, flags: flags, streamID: id, length: length).bytes + body
}

/// A Data frame carrying `body`, its length taken from the body.
func dataFrame(_ id: UInt32, _ flags: YamuxFlags = [], _ body: [UInt8]) -> [UInt8] {
    frame(.data, flags, id, UInt32(body.count), body)
}

/// Events recorded with their payload copied.
enum Ev: Equatable, CustomStringConvertible {
    case inbound(UInt32), data(UInt32, [UInt8]), opened(UInt32), fin(UInt32)
    case reset(UInt32, UInt32), closed(UInt32), pong(UInt32), goAway(UInt32)

    init(_ e: YamuxEvent) {
        switch e {
        case .inboundStream(let id): self = .inbound(id)
        case .data(let id, let raw): self = .data(id, Array(raw))
        case .sendWindowOpened(let id): self = .opened(id)
        case .remoteClosedWrite(let id): self = .fin(id)
        case .reset(let id, let code): self = .reset(id, code)
        case .streamClosed(let id): self = .closed(id)
        case .pong(let v): self = .pong(v)
        case .goAway(let c): self = .goAway(c.rawValue)
        }
    }

    var description: String {
        switch self {
        case .data(let id, let b): return "data(\(id), \(b.count) bytes)"
        default: return "\(String(reflecting: self))"
        }
    }
}

/// Merges adjacent data events of one stream, so whole and drip-fed runs compare equal.
func merged(_ events: [Ev]) -> [Ev] {
    var result: [Ev] = []
    for e in events {
        if case .data(let id, let b) = e, case .data(let lastID, let lastB)? = result.last, lastID == id {
            result[result.count - 1] = .data(id, lastB + b)
        } else if case .data(_, let b) = e, b.isEmpty {
            continue
        } else {
            result.append(e)
        }
    }
    return result
}

/// Splits concatenated frames back into (header, body) pairs.
func parseFrames(_ bytes: [UInt8]) -> [(YamuxHeader, [UInt8])] {
    var frames: [(YamuxHeader, [UInt8])] = []
    var i = 0
    while i + YamuxFrame.headerSize <= bytes.count {
        let h = YamuxHeader(Array(bytes[i ..< i + 12]))!
        i += 12
        let n = h.type == YamuxFrameType.data.rawValue ? Int(h.length) : 0
        frames.append((h, Array(bytes[i ..< min(i + n, bytes.count)])))
        i += n
    }
    return frames
}

extension YamuxSession {
    /// Feeds `bytes` in one call and returns the recorded events.
    func feed(_ bytes: [UInt8]) throws -> [Ev] {
        var events: [Ev] = []
        try bytes.withUnsafeBytes { raw in try receive(raw) { events.append(Ev($0)) } }
        return events
    }

    /// Feeds `bytes` one byte per call and returns the recorded events (data merged).
    func drip(_ bytes: [UInt8]) throws -> [Ev] {
        var events: [Ev] = []
        for b in bytes { events += try feed([b]) }
        return merged(events)
    }
}
