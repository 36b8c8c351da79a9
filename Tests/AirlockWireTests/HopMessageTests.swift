import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct HopMessageTests {
    let v = try! RelayFixtures()

    var vectors: [(String, HopMessage)] {
        [("reserve", .reserve),
         ("connectToA", .connect(to: v.peerA)),
         ("hopStatusOKWithLimit", .status(.ok, limit: v.limit)),
         ("hopStatusNoReservation", .status(.noReservation))]
    }

    var fullReservation: HopMessage {
        let addr = try! Multiaddr(v.f["reservationAddr"]!)
        return .status(.ok, reservation: Reservation(expire: UInt64(v.f["reservationExpire"]!)!, addrs: [addr],
                                                     voucher: v.bytes("voucherEnvelope")), limit: v.limit)
    }

    @Test func vectorsMatchByteForByte() throws {
        for (key, message) in vectors + [("hopStatusOKWithReservation", fullReservation)] {
            let wire = v.bytes(key)
            #expect(message.framed() == wire, "\(key)")
            var buf = ByteBuffer(wire)
            #expect(try HopMessage.read(from: &buf) == message, "\(key)")
            #expect(buf.isEmpty)
            #expect(try dripFeed(wire, HopMessage.read) == message, "\(key) drip-fed")
        }
        #expect(v.bytes("hopStatusOKWithReservation").count == 273)
    }

    @Test func fullReservationFields() throws {
        var buf = ByteBuffer(v.bytes("hopStatusOKWithReservation"))
        let m = try #require(try HopMessage.read(from: &buf))
        let r = try #require(m.reservation)
        #expect(r.expire == 1_700_000_000)
        #expect(r.addrs.first?.peerID == v.relay)
        #expect(r.voucher?.count == 196)
        #expect(m.status == .ok && m.limit == v.limit)
    }

    @Test func typeZeroIsAlwaysWritten() {
        #expect(HopMessage.reserve.encode() == [0x08, 0x00])
    }

    @Test func skipsUnknownFieldsAndKeepsSurplusOnes() throws {
        // py-libp2p adds field 6 and sends a peer with RESERVE (wire.md §9 P6).
        let body = hex("0800 1228 0a26") + v.peerA.bytes + hex("32 03 010203 3d 01020304 41 0102030405060708")
        let m = try HopMessage(decoding: body[...])
        #expect(m == HopMessage(type: .reserve, peer: RelayPeer(id: v.peerA)))
    }

    @Test func readNeverReadsPastTheMessage() throws {
        var buf = ByteBuffer(v.bytes("hopStatusOKWithLimit") + [0x13, 0x2f])
        #expect(try HopMessage.read(from: &buf) == .status(.ok, limit: v.limit))
        #expect(buf.readAll() == [0x13, 0x2f])
    }

    @Test func statusValues() throws {
        #expect(try HopMessage(decoding: hex("0802 28e707")[...]).status == .unknown(999))
        #expect(HopMessage.status(.unknown(999)).encode() == hex("0802 28e707"))
        #expect(throws: DecodeError.invalid("HopMessage.status value 18446744073709551615 out of range")) {
            try HopMessage(decoding: hex("0802 28ffffffffffffffffff01")[...])
        }
    }

    @Test func hostileInput() throws {
        #expect(throws: DecodeError.missingField("HopMessage.type")) { try HopMessage(decoding: hex("2864")[...]) }
        #expect(throws: DecodeError.missingField("HopMessage.type")) { try HopMessage(decoding: [][...]) }
        #expect(throws: DecodeError.missingField("Peer.id")) { try HopMessage(decoding: hex("0801 1200")[...]) }
        #expect(throws: DecodeError.invalid("HopMessage.type 3 unknown")) { try HopMessage(decoding: hex("0803")[...]) }
        #expect(throws: DecodeError.invalid("HopMessage.type 4294967296 unknown")) { try HopMessage(decoding: hex("088080808010")[...]) }
        #expect(throws: DecodeError.self) { try HopMessage(decoding: hex("0a00")[...]) }   // type sent as bytes
        #expect(throws: DecodeError.nonMinimalVarint) { try HopMessage(decoding: hex("088100")[...]) }
        #expect(throws: DecodeError.self) { try HopMessage(decoding: hex("0801 12ff")[...]) }
        #expect(throws: DecodeError.self) { try HopMessage(decoding: hex("0801 0f")[...]) }   // wire type 7
        var big = ByteBuffer([0x81, 0x20])   // 4097: refused before the body arrives
        #expect(throws: DecodeError.tooLarge(what: "length-prefixed message", size: 4097, cap: 4096)) { try HopMessage.read(from: &big) }
        var fits = ByteBuffer([0x80, 0x20] + [UInt8](repeating: 0, count: 10))
        #expect(try HopMessage.read(from: &fits) == nil)
    }

    @Test func everyTruncationOfConnectFails() throws {
        let body = Array(v.bytes("connectToA").dropFirst())
        for n in 0..<body.count where n != 2 {   // 2 bytes is a whole `type` field, a valid message
            #expect(throws: DecodeError.self, "prefix \(n)") { try HopMessage(decoding: body.prefix(n)) }
        }
    }
}
