import Testing
@testable import AirlockCore

/// Length-prefixed messages (`uvarint(len) || body`, wire.md §5.2): frames round-trip, drip-fed
/// bytes give the same messages, nothing is consumed until a message is whole, nothing past it is
/// read, and a length over the cap is refused as soon as the prefix is complete.
@Suite struct DelimitedTests {
    /// The hop/stop message cap (wire.md §5.2, §8).
    static let cap = 4096

    static func body(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) } }

    @Test(arguments: [0, 1, 127, 128, 300, 4096])
    func framesRoundTrip(count: Int) throws {
        let frame = Delimited.frame(Self.body(count))
        #expect(Array(frame.prefix(UVarint.encodedSize(UInt64(count)))) == UVarint.encode(UInt64(count)))
        #expect(frame.count == UVarint.encodedSize(UInt64(count)) + count)
        var buf = ByteBuffer(frame)
        #expect(try Delimited.read(from: &buf, cap: Self.cap) == Self.body(count))
        #expect(buf.isEmpty)
    }

    /// Two messages and the start of a third, a byte at a time: each read before a message is
    /// whole returns nil and leaves every byte in place.
    @Test func dripFedOneByteAtATime() throws {
        let bodies = [Self.body(3), [], Self.body(200)]
        let stream = bodies.flatMap(Delimited.frame) + [0x05, 0xAA]
        var buf = ByteBuffer()
        var got: [[UInt8]] = []
        var pending = 0
        for byte in stream {
            buf.write(byte); pending += 1
            if let message = try Delimited.read(from: &buf, cap: Self.cap) {
                got.append(message); pending = 0
            }
            #expect(buf.readableBytes == pending)
        }
        #expect(got == bodies)
        #expect(buf.readAll() == [0x05, 0xAA])
    }

    /// Every split of a frame with a two-byte prefix, and bytes after the frame stay unread
    /// (after a connect's OK they belong to the circuit).
    @Test func everySplitPoint() throws {
        let frame = Delimited.frame(Self.body(200))
        for cut in 0..<frame.count {
            var buf = ByteBuffer(frame[..<cut])
            #expect(try Delimited.read(from: &buf, cap: Self.cap) == nil)
            #expect(buf.readableBytes == cut)
            buf.write(frame[cut...])
            buf.write([0xDE, 0xAD])
            #expect(try Delimited.read(from: &buf, cap: Self.cap) == Self.body(200))
            #expect(buf.readAll() == [0xDE, 0xAD])
        }
    }

    /// The cap is checked on the prefix alone, before any body byte arrives, and the buffer is
    /// left as it was.
    @Test(arguments: [UInt64(4097), 1 << 20, 1 << 32, UInt64(Int64.max)])
    func rejectsOverCapBeforeTheBody(length: UInt64) throws {
        let prefix = UVarint.encode(length)
        for cut in 0..<prefix.count {
            var buf = ByteBuffer(prefix[..<cut])
            #expect(try Delimited.read(from: &buf, cap: Self.cap) == nil)
        }
        var buf = ByteBuffer(prefix)
        #expect(throws: DecodeError.tooLarge(what: "length-prefixed message", size: length, cap: Self.cap)) {
            try Delimited.read(from: &buf, cap: Self.cap)
        }
        #expect(buf.readableBytes == prefix.count)
    }

    /// A declared length within a huge cap waits for its body rather than allocating for it.
    @Test func hugeDeclaredLengthWaitsWithoutAllocating() throws {
        var buf = ByteBuffer(UVarint.encode(UInt64(Int64.max)) + [0x01, 0x02])
        #expect(try Delimited.read(from: &buf, cap: Int.max) == nil)
        #expect(buf.readableBytes == 11)
    }

    @Test func capIsInclusive() throws {
        var exact = ByteBuffer(Delimited.frame(Self.body(16)))
        #expect(try Delimited.read(from: &exact, cap: 16) == Self.body(16))
        var empty = ByteBuffer([0x00])
        #expect(try Delimited.read(from: &empty, cap: 0) == [])
        var one = ByteBuffer([0x01])
        #expect(throws: DecodeError.tooLarge(what: "length-prefixed message", size: 1, cap: 0)) {
            try Delimited.read(from: &one, cap: 0)
        }
    }

    @Test func rejectsMalformedPrefixes() {
        let cases: [([UInt8], DecodeError)] = [
            ([0x80, 0x00], .nonMinimalVarint), ([0x85, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05], .nonMinimalVarint),
            ([UInt8](repeating: 0x80, count: 10), .varintTooLong), ([UInt8](repeating: 0xFF, count: 10) + [0x01], .varintTooLong),
        ]
        for (bytes, error) in cases {
            var buf = ByteBuffer(bytes)
            #expect(throws: error) { try Delimited.read(from: &buf, cap: Int.max) }
            #expect(buf.readableBytes == bytes.count)
        }
    }

    /// A peer that sends only continuation bytes is refused by the tenth byte, not waited on forever.
    @Test func endlessPrefixIsRefused() {
        var buf = ByteBuffer()
        var fed = 0
        var refused: DecodeError?
        while refused == nil && fed < 64 {
            buf.write(0x80); fed += 1
            do { #expect(try Delimited.read(from: &buf, cap: Int.max) == nil) } catch { refused = error }
        }
        #expect(refused == .varintTooLong)
        #expect(fed <= UVarint.maxBytes + 1)
    }
}
