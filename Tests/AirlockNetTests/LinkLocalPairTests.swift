import Testing
@testable import AirlockNet

@Suite struct LinkLocalPairTests {
    @Test func firstAndLastPairs() throws {
        let first = try #require(LinkLocalPair(index: 0))
        #expect(first.hub.description == "169.254.1.0" && first.agent.description == "169.254.1.1")
        let second = try #require(LinkLocalPair(index: 1))
        #expect(second.hub.description == "169.254.1.2" && second.agent.description == "169.254.1.3")
        let endOfBlock = try #require(LinkLocalPair(index: 127))
        #expect(endOfBlock.hub.description == "169.254.1.254" && endOfBlock.agent.description == "169.254.1.255")
        let nextBlock = try #require(LinkLocalPair(index: 128))
        #expect(nextBlock.hub.description == "169.254.2.0")
        let last = try #require(LinkLocalPair(index: LinkLocalPair.capacity - 1))
        #expect(last.hub.description == "169.254.254.254" && last.agent.description == "169.254.254.255")
        #expect(LinkLocalPair.capacity == 253 * 128)
    }

    @Test func outOfRangeIsNil() {
        #expect(LinkLocalPair(index: -1) == nil)
        #expect(LinkLocalPair(index: LinkLocalPair.capacity) == nil)
        #expect(LinkLocalPair(index: Int.max) == nil)
        #expect(LinkLocalPair(index: Int.min) == nil)
    }

    @Test func skipsMetadataBlockAndReservedBlocks() throws {
        // Block 168 is index 167*128…; the next block must be 170, never 169.
        let before = try #require(LinkLocalPair(index: 167 * 128 + 127))
        let after = try #require(LinkLocalPair(index: 168 * 128))
        #expect(before.agent.description == "169.254.168.255")
        #expect(after.hub.description == "169.254.170.0")
    }

    @Test func everyPairIsAValidDisjointSlash31() throws {
        var seen = Set<IPv4Address>()
        let metadata = try #require(IPv4Address("169.254.169.254"))
        for i in 0..<LinkLocalPair.capacity {
            let p = try #require(LinkLocalPair(index: i))
            let h = p.hub.bytes, a = p.agent.bytes
            #expect(h[0] == 169 && h[1] == 254)
            #expect(h[2] != 0 && h[2] != 169 && h[2] != 255)
            #expect(h[3] % 2 == 0 && p.agent.value == p.hub.value + 1 && a[2] == h[2])
            #expect(p.hub != metadata && p.agent != metadata)
            #expect(seen.insert(p.hub).inserted && seen.insert(p.agent).inserted)
            #expect(LinkLocalPair.index(containing: p.hub) == i && LinkLocalPair.index(containing: p.agent) == i)
            #expect(LinkLocalPair(index: i) == p)
        }
        #expect(seen.count == 2 * LinkLocalPair.capacity)
    }

    @Test func indexOfForeignAddressesIsNil() {
        for text in ["169.254.169.254", "169.254.0.1", "169.254.255.1", "10.0.0.1", "169.253.1.1"] {
            #expect(LinkLocalPair.index(containing: IPv4Address(text)!) == nil, "\(text)")
        }
    }

    @Test func ipv4ParsingIsStrict() {
        #expect(IPv4Address("169.254.1.2")?.value == 0xA9FE_0102)
        #expect(IPv4Address("0.0.0.0")?.value == 0)
        #expect(IPv4Address("255.255.255.255")?.value == 0xFFFF_FFFF)
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..3.4", "1.2.3.4 ", "a.b.c.d",
                    "1.2.3.-4", "+1.2.3.4", "1.2.3.4444", "١.2.3.4"] {
            #expect(IPv4Address(bad) == nil, "\(bad)")
        }
        #expect(IPv4Address(169, 254, 7, 9).description == "169.254.7.9")
    }
}
