import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct StopMessageTests {
    let v = try! RelayFixtures()

    @Test func vectorsMatchByteForByte() throws {
        let vectors: [(String, StopMessage)] = [
            ("stopConnectWithLimit", .connect(from: v.relay, limit: v.limit)),
            ("stopStatusOK", .status(.ok)),
        ]
        for (key, message) in vectors {
            let wire = v.bytes(key)
            #expect(message.framed() == wire, "\(key)")
            var buf = ByteBuffer(wire)
            #expect(try StopMessage.read(from: &buf) == message, "\(key)")
            #expect(try dripFeed(wire, StopMessage.read) == message, "\(key) drip-fed")
        }
    }

    @Test func connectTypeZeroIsAlwaysWritten() {
        #expect(StopMessage(type: .connect).encode() == [0x08, 0x00])
    }

    @Test func skipsUnknownFields() throws {
        #expect(try StopMessage(decoding: hex("0801 2064 2a00 30ff01")[...]) == .status(.ok))
    }

    @Test func hostileInput() {
        #expect(throws: DecodeError.missingField("StopMessage.type")) { try StopMessage(decoding: hex("2064")[...]) }
        #expect(throws: DecodeError.invalid("StopMessage.type 2 unknown")) { try StopMessage(decoding: hex("0802")[...]) }
        #expect(throws: DecodeError.missingField("Peer.id")) { try StopMessage(decoding: hex("0800 1202 1200")[...]) }
        #expect(throws: DecodeError.self) { try StopMessage(decoding: hex("0800 1a")[...]) }
        #expect(throws: DecodeError.self) { try StopMessage(decoding: hex("0800 1a02 0880")[...]) }   // varint cut inside the limit
        var big = ByteBuffer([0xff, 0xff, 0x03])
        #expect(throws: DecodeError.self) { try StopMessage.read(from: &big) }
        let oversize = [UInt8](repeating: 0, count: 4097)
        #expect(throws: DecodeError.tooLarge(what: "StopMessage", size: 4097, cap: 4096)) { try StopMessage(decoding: oversize[...]) }
    }

    @Test func everyTruncationOfConnectFails() throws {
        let body = Array(v.bytes("stopConnectWithLimit").dropFirst())
        let boundaries: Set<Int> = [2, 44]   // after `type`, after `peer`
        for n in 0..<body.count where !boundaries.contains(n) {
            #expect(throws: DecodeError.self, "prefix \(n)") { try StopMessage(decoding: body.prefix(n)) }
        }
    }
}
