import Testing
@testable import AirlockCore

@Suite struct IPAddressTests {
    // MARK: IPv4

    @Test(arguments: [("10.0.0.1", [10, 0, 0, 1]), ("0.0.0.0", [0, 0, 0, 0]), ("255.255.255.255", [255, 255, 255, 255]),
                      ("127.0.0.1", [127, 0, 0, 1])])
    func parsesIPv4(text: String, bytes: [UInt8]) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.bytes == bytes && ip.isIPv4 && !ip.isIPv6)
        #expect(ip.description == text)
        #expect(IPAddress(ipv4: text) == ip)
        #expect(IPAddress(ipv6: text) == nil)
        #expect(IPAddress(ipv4: bytes[0], bytes[1], bytes[2], bytes[3]) == ip)
        #expect(IPAddress(bytes: ip.bytes) == ip)
    }

    @Test(arguments: ["127.1", "0x7f.0.0.1", "010.0.0.1", "01.2.3.4", "256.0.0.1", "1.2.3.256", "1.2.3", "1.2.3.4.5", "1.2.3.",
                      "", "1..2.3", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\0", "-1.2.3.4", "+1.2.3.4", "1.2.3.0004", "١.2.3.4"])
    func refusesAmbiguousIPv4(text: String) {
        #expect(IPAddress(text) == nil)
        #expect(IPAddress(ipv4: text) == nil)
    }

    // MARK: IPv6

    @Test(arguments: [("::", "::"), ("::1", "::1"), ("2001:DB8::1", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
                      ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
                      ("fe80::", "fe80::"), ("::ffff:10.0.0.1", "::ffff:10.0.0.1"), ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
                      ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
                      ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"), ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
                      ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")])
    func parsesIPv6AndPrintsRFC5952(text: String, printed: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.bytes.count == 16 && ip.isIPv6 && !ip.isIPv4)
        #expect(ip.description == printed)
        #expect(IPAddress(printed) == ip)
        #expect(IPAddress(ipv6: text) == ip)
        #expect(IPAddress(ipv4: text) == nil)
    }

    /// Known bytes for the forms multiaddr ip6 components carry (wire.md §5.8).
    @Test(arguments: [("::1", "00000000000000000000000000000001"),
                      ("2001:db8::8:800:200c:417a", "20010db80000000000080800200c417a"),
                      ("::ffff:10.0.0.1", "00000000000000000000ffff0a000001"), ("::", "00000000000000000000000000000000")])
    func parsesIPv6Bytes(text: String, bytesHex: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.bytes == Hex.decode(bytesHex))
        #expect(ip.description == text)
        #expect(IPAddress(bytes: ip.bytes) == ip)
    }

    @Test(arguments: ["1::2::3", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::", "g::1", ":1::", "1::2:", "fe80::1%eth0",
                      "fe80::1%lo", "[::1]", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "1:1.2.3.4", "1:2:3:4:5:6:7::8", ":", "::ffff:01.2.3.4",
                      "::ffff:1.2.3.4:5", " ::1", "::1 ", "::1\0"])
    func refusesBadIPv6(text: String) {
        #expect(IPAddress(text) == nil)
        #expect(IPAddress(ipv6: text) == nil)
    }

    @Test func refusesOversizeTextBeforeParsing() {
        let longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
        #expect(longest.utf8.count == IPAddress.maxTextLength)
        #expect(IPAddress(longest) != nil)
        #expect(IPAddress("0" + longest) == nil)
        #expect(IPAddress(String(repeating: "1", count: 100)) == nil)
        #expect(IPAddress(ipv4: String(repeating: "1.", count: 1000) + "1") == nil)
        #expect(IPAddress(ipv6: String(repeating: "0:", count: 10_000) + ":1") == nil)
    }

    @Test func acceptsSubstrings() throws {
        let host = "[2001:db8::1]:443"
        let inner = host.dropFirst().prefix { $0 != "]" }
        #expect(IPAddress(inner) == IPAddress("2001:db8::1"))
        #expect(IPAddress(ipv4: "x10.0.0.1".dropFirst()) == IPAddress(ipv4: 10, 0, 0, 1))
    }

    // MARK: bytes

    @Test func bytesInit() {
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: []) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 5)) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 15)) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 17)) == nil)
        let slice: ArraySlice<UInt8> = [9, 1, 2, 3, 4, 9][1..<5]
        #expect(IPAddress(bytes: slice)?.description == "1.2.3.4")
        #expect(IPAddress(bytes: [UInt8](repeating: 0xff, count: 16))?.isIPv6 == true)
    }

    // MARK: mapped IPv4 and prefixes

    @Test func mappedAndPrefixes() throws {
        let mapped = try #require(IPAddress("::ffff:192.168.1.2"))
        #expect(mapped.mappedIPv4 == IPAddress("192.168.1.2"))
        #expect(IPAddress("::1")!.mappedIPv4 == nil)
        #expect(IPAddress("192.168.1.2")!.mappedIPv4 == nil, "an IPv4 address is not mapped")
        #expect(IPAddress("::fffe:192.168.1.2")!.mappedIPv4 == nil)
        #expect(IPAddress("1::ffff:192.168.1.2")!.mappedIPv4 == nil)
        let net = IPAddress("10.0.0.0")!
        #expect(IPAddress("10.255.1.2")!.isInside(net, prefixLength: 8))
        #expect(!IPAddress("11.0.0.0")!.isInside(net, prefixLength: 8))
        #expect(IPAddress("10.0.0.1")!.isInside(IPAddress("10.0.0.0")!, prefixLength: 31))
        #expect(!IPAddress("10.0.0.2")!.isInside(IPAddress("10.0.0.0")!, prefixLength: 31))
        #expect(IPAddress("1.2.3.4")!.isInside(IPAddress("0.0.0.0")!, prefixLength: 0))
        #expect(!IPAddress("::1")!.isInside(net, prefixLength: 0), "families never mix")
        #expect(!mapped.isInside(IPAddress("192.168.0.0")!, prefixLength: 16), "mapped addresses are unwrapped by the caller")
        #expect(IPAddress("2001:db8:ff::1")!.isInside(IPAddress("2001:db8::")!, prefixLength: 32))
        #expect(!IPAddress("2001:db9::1")!.isInside(IPAddress("2001:db8::")!, prefixLength: 32))
        #expect(IPAddress("2001:db8::7")!.isInside(IPAddress("2001:db8::7")!, prefixLength: 128))
        #expect(!net.isInside(net, prefixLength: 33) && !net.isInside(net, prefixLength: -1), "lengths outside the width match nothing")
    }

    @Test func hostBitsAndMasking() {
        let ip = IPAddress("10.1.2.3")!
        #expect(ip.hasBits(after: 8) && ip.hasBits(after: 31) && !ip.hasBits(after: 32))
        #expect(!IPAddress("10.0.0.0")!.hasBits(after: 8) && IPAddress("10.0.0.0")!.hasBits(after: 0))
        #expect(ip.masked(toPrefixLength: 8) == IPAddress("10.0.0.0"))
        #expect(ip.masked(toPrefixLength: 12) == IPAddress("10.0.0.0"))
        #expect(ip.masked(toPrefixLength: 15) == IPAddress("10.0.0.0"))
        #expect(ip.masked(toPrefixLength: 16) == IPAddress("10.1.0.0"))
        #expect(ip.masked(toPrefixLength: 32) == ip)
        #expect(ip.masked(toPrefixLength: 0) == IPAddress("0.0.0.0"))
        let v6 = IPAddress("2001:db8:abcd::1")!
        #expect(v6.hasBits(after: 48) && !IPAddress("2001:db8::")!.hasBits(after: 32))
        #expect(v6.masked(toPrefixLength: 32) == IPAddress("2001:db8::"))
        #expect(v6.masked(toPrefixLength: 36) == IPAddress("2001:db8:a000::"))
        #expect(v6.masked(toPrefixLength: 128) == v6)
    }
}
