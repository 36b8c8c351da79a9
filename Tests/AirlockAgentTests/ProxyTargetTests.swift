import Testing
import AirlockCore
@testable import AirlockAgent

@Suite struct ProxyTargetTests {
    @Test func namesAreLowercasedAndAddressesCanonical() throws {
        #expect(ProxyTarget(host: "Example.COM", port: 443)?.host == "example.com")
        #expect(ProxyTarget(host: "web.", port: 80)?.host == "web", "fully qualified: the same name")
        #expect(ProxyTarget(host: "my_host-1.internal", port: 1)?.host == "my_host-1.internal")
        #expect(ProxyTarget(host: "2001:DB8:0:0:0:0:0:1", port: 80)?.host == "2001:db8::1")
        #expect(ProxyTarget(host: "10.0.0.1", port: 80)?.description == "10.0.0.1:80")
        #expect(ProxyTarget(host: "::1", port: 8080)?.description == "[::1]:8080")
        #expect(ProxyTarget(address: IPAddress(ipv4: 1, 2, 3, 4), port: 9)?.description == "1.2.3.4:9")
        // Internationalised names pass as UTF-8, for the exit to map to their xn-- form.
        #expect(ProxyTarget(host: "Bücher.example", port: 443)?.host == "bücher.example")
        #expect(ProxyTarget(host: "例え.テスト", port: 443)?.host == "例え.テスト")
        #expect(ProxyTarget.canonicalHost([0x62, 0xC3, 0x28]) == nil)  // not UTF-8
    }

    @Test(arguments: ["", ".", "...", "a b", "a/b", "a:b", "a\u{0}b", "a\r\nb", "[::1]", "a@b", "a\u{200D}b.com", "a\u{202E}b.com",
                      "a\u{00A0}b", "a\u{2028}b", "\u{85}x", String(repeating: "a", count: 256)])
    func hostileHostsAreRefused(_ host: String) {
        #expect(ProxyTarget(host: host, port: 80) == nil)
    }

    @Test func portZeroIsRefused() {
        #expect(ProxyTarget(host: "a", port: 0) == nil)
        #expect(ProxyTarget(address: IPAddress(ipv4: 1, 1, 1, 1), port: 0) == nil)
    }

    @Test func longestNameIsAccepted() {
        let name = String(repeating: "a", count: 255)
        #expect(ProxyTarget(host: name, port: 1)?.host == name)
    }

    @Test func authorities() {
        #expect(ProxyTarget(authority: "web:8080")?.description == "web:8080")
        #expect(ProxyTarget(authority: "[2001:db8::1]:443")?.host == "2001:db8::1")
        #expect(ProxyTarget(authority: "[::1]", defaultPort: 80)?.description == "[::1]:80")
        #expect(ProxyTarget(authority: "web", defaultPort: 80)?.port == 80)
        #expect(ProxyTarget(authority: "web:080")?.port == 80)
        #expect(ProxyTarget(authority: "web:65535")?.port == 65535)
    }

    @Test(arguments: ["web", "web:", ":80", "web:0", "web:65536", "web:-1", "web:+80", "web: 80", "web:8o",
                      "web:123456", "::1:80", "[::1", "[::1]80", "[1.2.3.4]:80", "[web]:80", "a:b:c", "web:80:"])
    func badAuthoritiesAreRefused(_ text: String) {
        #expect(ProxyTarget(authority: Substring(text)) == nil)
    }
}
