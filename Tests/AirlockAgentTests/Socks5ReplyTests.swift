import Testing
@testable import AirlockAgent

@Suite struct Socks5ReplyTests {
    @Test func messagesCarryTheCodeAndAZeroBoundAddress() {
        #expect(Socks5Reply.succeeded.message == [5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        #expect(Socks5Reply.notAllowed.message == [5, 2, 0, 1, 0, 0, 0, 0, 0, 0])
        #expect(Socks5Reply.hostUnreachable.message[1] == 4)
        #expect(Socks5Reply.connectionRefused.message[1] == 5)
        #expect(Socks5Reply.generalFailure.message[1] == 1)
        #expect(Socks5Reply.allCases.allSatisfy { $0.message.count == 10 })
    }
}
