import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct ReservationTests {
    let v = try! RelayFixtures()

    @Test func roundTrip() throws {
        let r = Reservation(expire: 1_700_000_000, addrs: [try Multiaddr(v.f["reservationAddr"]!)], voucher: v.bytes("voucherEnvelope"))
        let body = r.encode()
        #expect(body.prefix(6) == hex("0880e2cfaa06")[...])
        #expect(try Reservation(decoding: body[...]) == r)
        #expect(Reservation(expire: 0).encode() == [0x08, 0x00])   // expire is always written
        #expect(try Reservation(decoding: [0x08, 0x00][...]) == Reservation(expire: 0))
    }

    @Test func voucherIsOpaque() throws {
        let r = try Reservation(decoding: hex("0801 1a03 ffffff")[...])
        #expect(r.voucher == [0xff, 0xff, 0xff])
        #expect(try Reservation(decoding: hex("0801")[...]).voucher == nil)
    }

    @Test func hostileInput() {
        #expect(throws: DecodeError.missingField("Reservation.expire")) { try Reservation(decoding: hex("1a00")[...]) }
        #expect(throws: DecodeError.self) { try Reservation(decoding: hex("0a00")[...]) }
        #expect(throws: DecodeError.self) { try Reservation(decoding: hex("0801 1a05 0000")[...]) }
        #expect(throws: DecodeError.tooLarge(what: "protobuf field", size: 4097, cap: 4096)) {
            try Reservation(decoding: (hex("0801 1a8120") + [UInt8](repeating: 0, count: 4097))[...])
        }
    }
}
