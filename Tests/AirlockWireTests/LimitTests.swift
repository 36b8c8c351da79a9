import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct LimitTests {
    @Test func vector() throws {
        let body = hex("0878 10808008")   // wire.md §5.9: {120 s, 131072}
        #expect(Limit(duration: 120, data: 131072).encode() == body)
        #expect(try Limit(decoding: body[...]) == Limit(duration: 120, data: 131072))
    }

    @Test func zeroMeansAbsent() throws {
        #expect(Limit().encode().isEmpty)
        #expect(Limit(data: 5).encode() == [0x10, 0x05])
        #expect(try Limit(decoding: [][...]).isUnlimited)
        #expect(try Limit(decoding: hex("0800 1000")[...]) == Limit())
    }

    @Test func hostileInput() throws {
        #expect(throws: DecodeError.invalid("Limit.duration value 4294967296 out of range")) { try Limit(decoding: hex("088080808010")[...]) }
        #expect(try Limit(decoding: hex("08ffffffff0f")[...]).duration == UInt32.max)
        #expect(throws: DecodeError.self) { try Limit(decoding: hex("0a00")[...]) }
        #expect(throws: DecodeError.self) { try Limit(decoding: hex("1080")[...]) }
        #expect(try Limit(decoding: hex("1801 0878")[...]) == Limit(duration: 120))   // unknown field 3 skipped
    }
}
