import Testing
@testable import AirlockPolicy

@Suite struct PortRangeTests {
    @Test func parsesSingleAndRange() throws {
        let one = try PortRange.parse("443").get()
        #expect(one.contains(443) && !one.contains(442) && !one.contains(444))
        #expect(one.description == "443")
        let range = try PortRange.parse("8000-8080").get()
        #expect(range.contains(8000) && range.contains(8080) && range.contains(8040))
        #expect(!range.contains(7999) && !range.contains(8081))
        #expect(range.description == "8000-8080")
        #expect(try PortRange.parse("1-65535").get().contains(65535))
    }

    @Test(arguments: ["*", "", "0", "65536", "-1", "08", "80-", "-80", "90-80", "8a", "1-2-3", "99999"])
    func refuses(text: String) {
        #expect(throws: PatternError.self) { try PortRange.parse(Substring(text)).get() }
    }

    @Test func wildcardSaysWhatToWrite() {
        guard case .failure(let e) = PortRange.parse("*") else { Issue.record("accepted *"); return }
        #expect(e.message.contains("1-65535"))
    }
}
