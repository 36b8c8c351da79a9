import Testing
@testable import AirlockPolicy

@Suite struct DestinationTests {
    @Test func portIsPartOfEveryMatch() throws {
        let d = try Destination.parse("*.example.com:443").get()
        #expect(d.matches(host: NormalisedHost("a.example.com")!, port: 443))
        #expect(!d.matches(host: NormalisedHost("a.example.com")!, port: 80))
        #expect(!d.matches(host: NormalisedHost("example.com")!, port: 443))
        let r = try Destination.parse("[2001:db8::/32]:8000-8080").get()
        #expect(r.matches(host: NormalisedHost("2001:db8::9")!, port: 8080))
        #expect(!r.matches(host: NormalisedHost("2001:db8::9")!, port: 8081))
        #expect(r.description == "[2001:db8::/32]:8000-8080")
    }

    @Test(arguments: [("example.com", "missing port"), ("example.com:*", "wildcard"), ("2001:db8::1:443", "brackets"),
                      ("[2001:db8::1]", "missing port after ']'"), ("[2001:db8::1]443", "missing port after ']'"),
                      ("example.com:0", "1 to 65535"), (":443", "missing host"), ("*:443", "bare '*'"), ("[::1:443", "not closed")])
    func refuses(text: String, says: String) {
        guard case .failure(let e) = Destination.parse(text) else { Issue.record("accepted \(text)"); return }
        #expect(e.message.contains(says), "\(e.message)")
    }
}
