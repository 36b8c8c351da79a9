import Testing
@testable import AirlockWire

@Suite struct RelayStatusTests {
    @Test(arguments: [(RelayStatus.unused, 0, "UNUSED"), (.ok, 100, "OK"), (.reservationRefused, 200, "RESERVATION_REFUSED"),
                      (.resourceLimitExceeded, 201, "RESOURCE_LIMIT_EXCEEDED"), (.permissionDenied, 202, "PERMISSION_DENIED"),
                      (.connectionFailed, 203, "CONNECTION_FAILED"), (.noReservation, 204, "NO_RESERVATION"),
                      (.malformedMessage, 400, "MALFORMED_MESSAGE"), (.unexpectedMessage, 401, "UNEXPECTED_MESSAGE")])
    func specValues(status: RelayStatus, value: UInt32, name: String) {
        #expect(status.rawValue == value)
        #expect(RelayStatus(rawValue: value) == status)
        #expect(status.description == name)
    }

    @Test func unknownValuesArePreserved() {
        for v: UInt32 in [1, 99, 101, 205, 300, 402, .max] {
            #expect(RelayStatus(rawValue: v) == .unknown(v))
            #expect(RelayStatus(rawValue: v).rawValue == v)
        }
    }
}
