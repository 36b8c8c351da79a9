import Testing
@testable import AirlockCore

@Suite struct VarintTests {
    @Test(arguments: [(UInt64(0), "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"),
                      (16383, "ff7f"), (16384, "808001"), (UInt64(Int64.max), "ffffffffffffffff7f")])
    func roundTrip(value: UInt64, hex: String) throws {
        #expect(Hex.encode(UVarint.encode(value)) == hex)
        let d = try #require(try UVarint.decode(Hex.decode(hex)!))
        #expect(d.value == value && d.size == hex.count / 2)
    }

    @Test func rejectsNonMinimal() {
        #expect(throws: DecodeError.nonMinimalVarint) { try UVarint.decode([0x81, 0x00]) }
        #expect(throws: DecodeError.nonMinimalVarint) { try UVarint.decode([0x80, 0x80, 0x00]) }
    }

    @Test func rejectsTooLong() throws {
        // 2^63 needs 10 bytes: over the multiformats cap of 9, within protobuf's 10.
        let tenBytes: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
        #expect(throws: DecodeError.varintTooLong) { try UVarint.decode(tenBytes) }
        #expect(try ProtoVarint.decode(tenBytes)?.value == 1 << 63)
        #expect(throws: DecodeError.varintTooLong) { try ProtoVarint.decode(tenBytes.dropLast() + [0x02]) }
        #expect(throws: DecodeError.varintTooLong) { try ProtoVarint.decode([UInt8](repeating: 0xff, count: 11)) }
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
}
