import Testing
@testable import AirlockAgent

@Suite struct DNSStubTests {
    /// A query for `name` (dotted) as a resolver sends it, with RD set and an EDNS OPT record.
    static func query(id: UInt16 = 0xBEEF, name: String = "api.example.com", type: UInt16 = 1, flags: UInt8 = 0x01, qdcount: UInt8 = 1) -> [UInt8] {
        var q: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), flags, 0x20, 0, qdcount, 0, 0, 0, 0, 0, 1]
        for label in name.split(separator: ".") { q.append(UInt8(label.utf8.count)); q += label.utf8 }
        q += [0, UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
        q += [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]  // OPT: dropped in the answer
        return q
    }

    @Test func refusesWithSameIDAndQuestion() throws {
        let q = Self.query()
        let r = try #require(DNSStub.refusedResponse(to: q))
        let questionEnd = 12 + 17 + 4
        #expect(Array(r[0..<2]) == [0xBE, 0xEF])
        #expect(r[2] == 0x81)          // QR, opcode 0, RD echoed
        #expect(r[3] == 0x05)          // RA 0, RCODE REFUSED
        #expect(Array(r[4..<12]) == [0, 1, 0, 0, 0, 0, 0, 0])
        #expect(Array(r[12...]) == Array(q[12..<questionEnd]))
        let parsed = try #require(q.withUnsafeBytes { DNSStub.parseQuery($0) })
        #expect(parsed.nameText == "api.example.com")
        #expect(parsed.type == 1 && parsed.class == 1)
    }

    @Test func echoesOpcodeAndClearRD() throws {
        let r = try #require(DNSStub.refusedResponse(to: Self.query(type: 28, flags: 0x10)))  // opcode 2, RD 0
        #expect(r[2] == 0x90)
        #expect(Array(r[(r.count - 4)...]) == [0, 28, 0, 1])
    }

    @Test func rootQuery() throws {
        let q: [UInt8] = [0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]
        let r = try #require(DNSStub.refusedResponse(to: q))
        #expect(r.count == 17)
        #expect(q.withUnsafeBytes { DNSStub.parseQuery($0) }?.nameText == ".")
    }

    @Test func longestNameIsAnswered() throws {
        // 255 bytes in wire form: three 63-byte labels, one 61-byte label, the root byte.
        let name = [String](repeating: String(repeating: "a", count: 63), count: 3).joined(separator: ".") + "." + String(repeating: "b", count: 61)
        #expect(DNSStub.refusedResponse(to: Self.query(name: name)) != nil)
        #expect(DNSStub.refusedResponse(to: Self.query(name: name + "b")) == nil)
    }

    @Test func garbageGetsNoAnswer() {
        var pointer = Self.query()
        pointer[12] = 0xC0
        var longLabel = Self.query(name: String(repeating: "x", count: 63))
        longLabel[12] = 64
        let cases: [[UInt8]] = [
            [],
            [1, 2, 3],
            Array(Self.query().prefix(16)),                   // truncated name
            Array(Self.query().prefix(12 + 17 + 3)),          // truncated QTYPE/QCLASS
            Self.query(flags: 0x81),                          // a response
            Self.query(qdcount: 0),                           // no question
            pointer,                                          // compression pointer in the question
            longLabel,                                        // label over 63 bytes
            [UInt8](repeating: 0, count: 65536),              // over the size cap
        ]
        for c in cases { #expect(DNSStub.refusedResponse(to: c) == nil, "\(c.prefix(20))") }
    }

    @Test func everyTruncationIsRefusedWithoutTrapping() {
        let q = Self.query()
        for n in 0..<(12 + 17 + 4) { #expect(DNSStub.refusedResponse(to: Array(q.prefix(n))) == nil, "prefix \(n)") }
        var rng = ShimJunkGenerator(seed: 3)
        for _ in 0..<5000 {
            var m = q
            for _ in 0..<3 { m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = DNSStub.refusedResponse(to: Array(m.prefix(Int(rng.next() % UInt64(m.count + 1)))))
        }
    }

    /// The server's allocation-free path gives the same bytes as `refusedResponse`, and nothing
    /// (with nothing written) for what that refuses to answer.
    @Test func writeRefusedMatchesRefusedResponse() {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: DNSStub.maxResponseSize, alignment: 1)
        defer { out.deallocate() }
        let longest = [String](repeating: String(repeating: "a", count: 63), count: 3).joined(separator: ".") + "." + String(repeating: "b", count: 61)
        var rng = ShimJunkGenerator(seed: 5)
        var cases: [[UInt8]] = [Self.query(), Self.query(type: 28, flags: 0x10), Self.query(name: longest), Self.query(flags: 0x81), [1, 2, 3],
                                [0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]]
        for _ in 0..<2000 {
            var m = Self.query()
            for _ in 0..<2 { m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            cases.append(Array(m.prefix(Int(rng.next() % UInt64(m.count + 1)))))
        }
        for c in cases {
            out.initializeMemory(as: UInt8.self, repeating: 0xAA)
            let n = c.withUnsafeBytes { DNSStub.writeRefused(to: $0, into: out) }
            let expected = DNSStub.refusedResponse(to: c)
            #expect(n.map { Array(out[0..<$0]) } == expected, "\(c.prefix(20))")
            if n == nil { #expect(out.allSatisfy { $0 == 0xAA }, "nothing written for \(c.prefix(20))") }
        }
        #expect(DNSStub.maxResponseSize == 12 + 255 + 4)
    }
}
