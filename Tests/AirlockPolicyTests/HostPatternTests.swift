import Testing
import AirlockCore
@testable import AirlockPolicy

@Suite struct HostPatternTests {
    func pattern(_ text: String) throws -> HostPattern { try HostPattern.parse(Substring(text)).get() }
    func host(_ text: String) -> NormalisedHost { NormalisedHost(text)! }

    @Test func subdomainWildcardMatchesSubdomainsOnly() throws {
        let p = try pattern("*.example.com")
        #expect(p.matches(host("a.example.com")))
        #expect(p.matches(host("a.b.example.com")))
        #expect(p.matches(host("A.Example.COM.")))
        #expect(!p.matches(host("example.com")), "not the domain itself")
        #expect(!p.matches(host("evilexample.com")), "label boundary")
        #expect(!p.matches(host("example.com.evil.net")))
        #expect(!p.matches(host("aexample.com")))
        #expect(!p.matches(host("10.0.0.1")))
    }

    @Test func exactMatchesOnlyThatName() throws {
        let p = try pattern("API.GitHub.com.")
        #expect(p == .exact("api.github.com"))
        #expect(p.matches(host("api.github.com")))
        #expect(!p.matches(host("x.api.github.com")))
        #expect(!p.matches(host("github.com")))
    }

    @Test func ipv4LiteralAndCIDR() throws {
        #expect(try pattern("10.0.0.5").matches(host("10.0.0.5")))
        #expect(try !pattern("10.0.0.5").matches(host("10.0.0.6")))
        let net = try pattern("10.0.0.0/8")
        #expect(net.matches(host("10.200.3.4")))
        #expect(net.matches(host("::ffff:10.1.1.1")), "mapped IPv6 is normalised to IPv4")
        #expect(!net.matches(host("11.0.0.1")))
        #expect(!net.matches(host("ten.example")))
        let slash32 = try pattern("192.168.1.7/32")
        #expect(slash32.matches(host("192.168.1.7")) && !slash32.matches(host("192.168.1.8")))
        let all = try pattern("0.0.0.0/0")
        #expect(all.matches(host("8.8.8.8")) && !all.matches(host("::1")))
        let odd = try pattern("172.16.0.0/12")
        #expect(odd.matches(host("172.31.255.255")) && !odd.matches(host("172.32.0.0")))
    }

    @Test func ipv6LiteralAndCIDR() throws {
        let one = try pattern("[2001:db8::1]")
        #expect(one.matches(host("2001:DB8:0::1")))
        #expect(!one.matches(host("2001:db8::2")))
        let net = try pattern("[2001:db8::/32]")
        #expect(net.matches(host("[2001:db8:ffff::1]")))
        #expect(!net.matches(host("2001:db9::1")))
        #expect(!net.matches(host("10.0.0.1")))
        let ula = try pattern("[fd00::/8]")
        #expect(ula.matches(host("fdab::1")) && !ula.matches(host("fe80::1")))
        #expect(net.names(IPAddress("2001:db8::5")!))
        #expect(try pattern("10.0.0.0/8").names(IPAddress("::ffff:10.0.0.1")!))
        #expect(try !pattern("*.example.com").names(IPAddress("10.0.0.1")!))
    }

    @Test(arguments: [("*", "bare '*'"), ("*.*.example.com", "only once"), ("a.*.example.com", "first label"), ("exa*.com", "first label"),
                      ("10.0.0.1/8", "did you mean 10.0.0.0/8?"), ("[2001:db8::1/32]", "did you mean [2001:db8::/32]?"),
                      ("10.0.0.0/33", "0 to 32"), ("10.0.0.0/08", "0 to 32"), ("2001:db8::1", "must be in brackets"),
                      ("[10.0.0.1]", "must not be in brackets"), ("[::ffff:10.0.0.1]", "write it as 10.0.0.1"),
                      ("[nothost]", "not an IPv6 address"), ("127.1", "neither an IP address nor a host name"),
                      ("bücher.de", "punycode"), ("", "missing host"), ("[::1", "without closing"), ("foo/8", "not an IP address")])
    func refusesWithReason(text: String, says: String) {
        guard case .failure(let e) = HostPattern.parse(Substring(text)) else { Issue.record("accepted \(text)"); return }
        #expect(e.message.contains(says), "\(e.message)")
    }

    @Test(arguments: ["api.github.com", "*.pypi.org", "10.0.0.5", "10.0.0.0/8", "[2001:db8::1]", "[2001:db8::/32]", "0.0.0.0/0", "[::/0]"])
    func printsWhatItParses(text: String) throws {
        let p = try pattern(text)
        #expect(p.description == text)
        #expect(try pattern(p.description) == p)
    }
}
