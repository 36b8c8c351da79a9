import Testing
@testable import AirlockCore

/// The multiformats uvarint (minimal, ≤9 bytes, 63 bits) and the protobuf varint (≤10 bytes, 64 bits),
/// wire.md §0.2: known encodings, every boundary, every split point, and the malformed forms a peer
/// can send.
@Suite struct VarintTests {
    /// The last value of each encoded length and the first of the next, up to the multiformats max.
    static let boundaries: [UInt64] = [0] + (1...9).flatMap { k -> [UInt64] in
        let last = k == 9 ? UInt64(Int64.max) : (UInt64(1) << (7 * UInt64(k))) - 1
        return k == 9 ? [last] : [last, last + 1]
    }

    @Test(arguments: [(UInt64(0), "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"),
                      (16383, "ff7f"), (16384, "808001"), (UInt64(Int64.max), "ffffffffffffffff7f")])
    func roundTrip(value: UInt64, hex: String) throws {
        #expect(Hex.encode(UVarint.encode(value)) == hex)
        let d = try #require(try UVarint.decode(Hex.decode(hex)!))
        #expect(d.value == value && d.size == hex.count / 2)
    }

    @Test(arguments: boundaries)
    func boundaryRoundTrips(value: UInt64) throws {
        let bytes = UVarint.encode(value)
        #expect(bytes.count == UVarint.encodedSize(value))
        #expect(bytes.count == max(1, (64 - value.leadingZeroBitCount + 6) / 7))
        #expect(bytes.last! != 0 || value == 0)
        let u = try #require(try UVarint.decode(bytes))
        #expect(u.value == value && u.size == bytes.count)
        let p = try #require(try ProtoVarint.decode(bytes))
        #expect(p.value == value && p.size == bytes.count)
    }

    /// Every cut of every multi-byte boundary value: the prefix asks for more and consumes nothing,
    /// the rest completes it, and bytes after the varint are left alone.
    @Test(arguments: boundaries.filter { $0 >= 128 })
    func everySplitPoint(value: UInt64) throws {
        let bytes = UVarint.encode(value)
        for cut in 1..<bytes.count {
            #expect(try UVarint.decode(bytes[..<cut]) == nil)
            #expect(try ProtoVarint.decode(bytes[..<cut]) == nil)
            var buf = ByteBuffer(bytes[..<cut])
            #expect(try UVarint.read(from: &buf) == nil)
            #expect(buf.readableBytes == cut)
            buf.write(bytes[cut...])
            buf.write([0xAA, 0x01])
            #expect(try UVarint.read(from: &buf) == value)
            #expect(buf.readAll() == [0xAA, 0x01])
        }
    }

    @Test func dripFedOneByteAtATime() throws {
        var buf = ByteBuffer()
        var got: [UInt64] = []
        for byte in Self.boundaries.flatMap({ UVarint.encode($0) }) {
            buf.write(byte)
            if let v = try UVarint.read(from: &buf) { got.append(v); #expect(buf.isEmpty) }
        }
        #expect(got == Self.boundaries)
    }

    @Test func maxPlusOneIsOverTheMultiformatsCap() throws {
        // 2^63 needs 10 bytes: over the multiformats cap of 9, within protobuf's 10.
        let bytes = UVarint.encode(UInt64(Int64.max) + 1)
        #expect(Hex.encode(bytes) == "80808080808080808001")
        #expect(throws: DecodeError.varintTooLong) { try UVarint.decode(bytes) }
        var buf = ByteBuffer(bytes)
        #expect(throws: DecodeError.varintTooLong) { try UVarint.read(from: &buf) }
        #expect(buf.readableBytes == bytes.count)
        #expect(try ProtoVarint.decode(bytes)?.value == 1 << 63)
    }

    @Test func rejectsNonMinimal() {
        #expect(throws: DecodeError.nonMinimalVarint) { try UVarint.decode([0x81, 0x00]) }
        #expect(throws: DecodeError.nonMinimalVarint) { try UVarint.decode([0x80, 0x80, 0x00]) }
    }

    /// Each value padded with zero groups to every longer length both readers allow.
    @Test(arguments: [UInt64(0), 1, 127, 128, 16383, 16384])
    func rejectsEveryPaddedForm(value: UInt64) {
        let minimal = UVarint.encode(value)
        for length in (minimal.count + 1)...ProtoVarint.maxBytes {
            var padded = minimal
            padded[padded.count - 1] |= 0x80
            padded += [UInt8](repeating: 0x80, count: length - minimal.count - 1) + [0x00]
            #expect(padded.count == length)
            if length <= UVarint.maxBytes {
                #expect(throws: DecodeError.nonMinimalVarint) { try UVarint.decode(padded) }
            } else {
                #expect(throws: DecodeError.varintTooLong) { try UVarint.decode(padded) }
            }
            #expect(throws: DecodeError.nonMinimalVarint) { try ProtoVarint.decode(padded) }
        }
    }

    /// Nine continuation bytes never make a value; a tenth byte, whatever it is, is over the cap.
    @Test func rejectsMoreThanNineBytes() throws {
        for fill: UInt8 in [0x80, 0xFF] {
            let nine = [UInt8](repeating: fill, count: 9)
            for cut in 0...9 { #expect((try? UVarint.decode(nine[..<cut])) == nil) }
            for last in 0...UInt8.max {
                #expect(throws: DecodeError.varintTooLong) { try UVarint.decode(nine + [last]) }
            }
        }
        #expect(throws: DecodeError.varintTooLong) { try UVarint.decode([UInt8](repeating: 0xFF, count: 64)) }
    }

    @Test func protobufTakesTenBytesAndNoMore() throws {
        let top = [UInt8](repeating: 0xFF, count: 9) + [0x01]
        #expect(UVarint.encode(UInt64.max) == top)
        let d = try #require(try ProtoVarint.decode(top))
        #expect(d.value == UInt64.max && d.size == 10)
        for cut in 1..<top.count { #expect(try ProtoVarint.decode(top[..<cut]) == nil) }
        // Bits past 64 in the tenth byte overflow; an eleventh byte is over the cap.
        for last in UInt8(0x02)...0x7F {
            #expect(throws: DecodeError.varintTooLong) { try ProtoVarint.decode(top.dropLast() + [last]) }
        }
        #expect(throws: DecodeError.varintTooLong) { try ProtoVarint.decode(top.dropLast() + [0x81, 0x00]) }
        #expect(throws: DecodeError.varintTooLong) { try ProtoVarint.decode([UInt8](repeating: 0x80, count: 10) + [0x01]) }
        #expect(throws: DecodeError.varintTooLong) { try ProtoVarint.decode([UInt8](repeating: 0xFF, count: 11)) }
    }

    @Test func incompleteNeedsMore() throws {
        #expect(try UVarint.decode([UInt8]()) == nil)
        #expect(try UVarint.decode([0x80]) == nil)
        var buf = ByteBuffer([0xac])
        #expect(try UVarint.read(from: &buf) == nil)
        #expect(buf.readableBytes == 1)
        buf.write(0x02)
        #expect(try UVarint.read(from: &buf) == 300)
        #expect(buf.isEmpty)
    }

    @Test func decodesAtASliceOffset() throws {
        let bytes: [UInt8] = [0xFF, 0xFF, 0xAC, 0x02, 0x07]
        let d = try #require(try UVarint.decode(bytes[2...]))
        #expect(d.value == 300 && d.size == 2)
    }
}
