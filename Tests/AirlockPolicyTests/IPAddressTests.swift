import Testing
@testable import AirlockPolicy

@Suite struct IPAddressTests {
    @Test(arguments: [("10.0.0.1", [10, 0, 0, 1]), ("0.0.0.0", [0, 0, 0, 0]), ("255.255.255.255", [255, 255, 255, 255])])
    func parsesIPv4(text: String, bytes: [UInt8]) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.bytes == bytes && ip.isV4)
        #expect(ip.description == text)
    }

    @Test(arguments: ["127.1", "0x7f.0.0.1", "010.0.0.1", "256.0.0.1", "1.2.3.4.5", "1.2.3.", "", "1..2.3", " 1.2.3.4", "1.2.3.4 "])
    func refusesAmbiguousIPv4(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test(arguments: [("::", "::"), ("::1", "::1"), ("2001:DB8::1", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
                      ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
                      ("fe80::", "fe80::"), ("::ffff:10.0.0.1", "::ffff:10.0.0.1"), ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
                      ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304")])
    func parsesIPv6AndPrintsRFC5952(text: String, printed: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.bytes.count == 16)
        #expect(ip.description == printed)
        #expect(IPAddress(printed) == ip)
    }

    @Test(arguments: ["1::2::3", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::", ":1::", "1::2:", "fe80::1%eth0",
                      "[::1]", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "1:1.2.3.4", "1:2:3:4:5:6:7::8"])
    func refusesBadIPv6(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func mappedAndPrefixes() throws {
        let mapped = try #require(IPAddress("::ffff:192.168.1.2"))
        #expect(mapped.mappedV4 == IPAddress("192.168.1.2"))
        #expect(IPAddress("::1")!.mappedV4 == nil)
        let net = IPAddress("10.0.0.0")!
        #expect(IPAddress("10.255.1.2")!.isInside(net, prefixLength: 8))
        #expect(!IPAddress("11.0.0.0")!.isInside(net, prefixLength: 8))
        #expect(IPAddress("10.0.0.1")!.isInside(IPAddress("10.0.0.0")!, prefixLength: 31))
        #expect(!IPAddress("10.0.0.2")!.isInside(IPAddress("10.0.0.0")!, prefixLength: 31))
        #expect(IPAddress("1.2.3.4")!.isInside(IPAddress("0.0.0.0")!, prefixLength: 0))
        #expect(!IPAddress("::1")!.isInside(net, prefixLength: 0), "families never mix")
        #expect(IPAddress("2001:db8:ff::1")!.isInside(IPAddress("2001:db8::")!, prefixLength: 32))
        #expect(!IPAddress("2001:db9::1")!.isInside(IPAddress("2001:db8::")!, prefixLength: 32))
        #expect(IPAddress("2001:db8::7")!.isInside(IPAddress("2001:db8::7")!, prefixLength: 128))
    }
}
