import Testing
@testable import AirlockWire

@Suite struct IPAddressTests {
    @Test(arguments: [("127.0.0.1", "7f000001"), ("::1", "00000000000000000000000000000001"),
                      ("2001:db8::8:800:200c:417a", "20010db8000000000008080020 0c417a".replacingOccurrences(of: " ", with: "")),
                      ("::ffff:10.0.0.1", "00000000000000000000ffff0a000001"), ("::", "00000000000000000000000000000000")])
    func parsesAndPrints(text: String, bytesHex: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.bytes == hex(bytesHex))
        #expect(ip.description == text)
        #expect(IPAddress(bytes: ip.bytes) == ip)
    }

    @Test func rejectsJunk() {
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", " 1.2.3.4", "1.2.3.4\0", ":::", "1::2::3", "fe80::1%lo",
                    String(repeating: "1", count: 100), "g::1"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        #expect(IPAddress(ipv4: "::1") == nil)
        #expect(IPAddress(ipv6: "1.2.3.4") == nil)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 5)) == nil)
    }
}
