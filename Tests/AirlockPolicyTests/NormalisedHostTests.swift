import Testing
import AirlockCore
@testable import AirlockPolicy

@Suite struct NormalisedHostTests {
    @Test func normalisesNames() {
        #expect(NormalisedHost("Example.COM.") == .name("example.com"))
        #expect(NormalisedHost("xn--bcher-kva.example") == .name("xn--bcher-kva.example"))
        #expect(NormalisedHost("localhost") == .name("localhost"))
        #expect(NormalisedHost("_srv.example.com") == .name("_srv.example.com"))
    }

    @Test func normalisesAddresses() {
        #expect(NormalisedHost("10.0.0.1") == .address(IPAddress("10.0.0.1")!))
        #expect(NormalisedHost("::1") == .address(IPAddress("::1")!))
        #expect(NormalisedHost("[2001:DB8::1]") == .address(IPAddress("2001:db8::1")!))
        // An IPv4-mapped address is the IPv4 address, so IPv4 rules apply to it.
        #expect(NormalisedHost("::ffff:10.0.0.1") == .address(IPAddress("10.0.0.1")!))
        #expect(NormalisedHost("[::1]")?.description == "[::1]")
    }

    @Test(arguments: ["", ".", "127.1", "0x7f000001", "2130706433", "1.2.3", "a..b", "-a.com", "a-.com", "bücher.example",
                      "a b.com", "example.com:443", "[10.0.0.1]", "[::1", "exa*mple.com", String(repeating: "a", count: 64) + ".com",
                      String(repeating: "a.", count: 127) + "com"])
    func refuses(text: String) {
        #expect(NormalisedHost(text) == nil)
    }
}
