import Testing
import Glibc
import AirlockCore
@testable import AirlockPolicy

@Suite struct NormalisedHostTests {
    @Test func normalisesNames() {
        #expect(NormalisedHost("Example.COM.") == .name("example.com"))
        #expect(NormalisedHost("xn--bcher-kva.example") == .name("xn--bcher-kva.example"))
        #expect(NormalisedHost("localhost") == .name("localhost"))
        #expect(NormalisedHost("_srv.example.com") == .name("_srv.example.com"))
        // Only the last label decides: a name may have numeric labels before it.
        #expect(NormalisedHost("1.example.com") == .name("1.example.com"))
        #expect(NormalisedHost("0x7f.example") == .name("0x7f.example"))
        #expect(NormalisedHost("127.0.0.1.nip.io") == .name("127.0.0.1.nip.io"))
    }

    @Test func normalisesAddresses() {
        #expect(NormalisedHost("10.0.0.1") == .address(IPAddress("10.0.0.1")!))
        #expect(NormalisedHost("::1") == .address(IPAddress("::1")!))
        #expect(NormalisedHost("[2001:DB8::1]") == .address(IPAddress("2001:db8::1")!))
        // An IPv4-mapped address is the IPv4 address, so IPv4 rules apply to it.
        #expect(NormalisedHost("::ffff:10.0.0.1") == .address(IPAddress("10.0.0.1")!))
        #expect(NormalisedHost("[::ffff:127.0.0.1]") == .address(IPAddress("127.0.0.1")!))
        #expect(NormalisedHost("::ffff:7f00:1") == .address(IPAddress("127.0.0.1")!))
        #expect(NormalisedHost("[::1]")?.description == "[::1]")
    }

    /// Every numeric form inet_aton(3) reads becomes the address it reads.
    @Test(arguments: [
        // One part: all 32 bits.
        ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0X7F000001", "127.0.0.1"), ("017700000001", "127.0.0.1"),
        ("0", "0.0.0.0"), ("00", "0.0.0.0"), ("0x0", "0.0.0.0"), ("4294967295", "255.255.255.255"),
        ("0xffffffff", "255.255.255.255"), ("037777777777", "255.255.255.255"), ("0xa9fea9fe", "169.254.169.254"),
        ("0x00000000000000000000007f000001", "127.0.0.1"), ("0000000000000000000000000001", "0.0.0.1"),
        // Two parts: the second fills 24 bits.
        ("127.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("1.16777215", "1.255.255.255"), ("10.0x10001", "10.1.0.1"),
        // Three parts: the third fills 16 bits.
        ("127.0.1", "127.0.0.1"), ("1.2.3", "1.2.0.3"), ("192.168.1", "192.168.0.1"), ("1.2.65535", "1.2.255.255"),
        ("169.254.43518", "169.254.169.254"),
        // Four parts, each a byte, in any base.
        ("010.0.0.1", "8.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"), ("0X7f.0.0.01", "127.0.0.1"), ("01.2.3.4", "1.2.3.4"),
        ("0300.0250.1.1", "192.168.1.1"), ("0xff.0377.255.0xFf", "255.255.255.255"), ("1.2.3.0004", "1.2.3.4"),
        ("0xA.0xb.0XC.0xd", "10.11.12.13"),
    ])
    func readsNumericIPv4LikeInetAton(text: String, address: String) {
        #expect(NormalisedHost(text) == .address(IPAddress(address)!))
    }

    /// Numeric forms inet_aton refuses are refused: neither an address nor a name.
    @Test(arguments: [
        "08", "09", "0x", "0X", "0x.1", "0xg", "1e3", "1.2.3.4x", "1.2.3.4.5", "1..2", ".1.2.3", "1.2..3", ".1",
        "4294967296", "0x100000000", "040000000000", "99999999999999999999", "256.1", "0x100.1", "1.16777216",
        "1.2.65536", "1.2.3.256", "1.256.3.4", "0400.1.1.1", "1.2.3.089", "example.123", "a.1",
        "127.1.", "10.0.0.1.", "2130706433.", "0x7f000001.",
    ])
    func refusesMalformedNumericIPv4(text: String) {
        #expect(NormalisedHost(text) == nil)
        guard case .failure(let e) = NormalisedHost.parse(Substring(text)) else { Issue.record("accepted \(text)"); return }
        #expect(e.message.contains("neither an IPv4 address"), "\(e.message)")
    }

    /// The reading agrees with the C library's own inet_aton on random numeric-looking text: an
    /// address exactly when inet_aton reads one, and then the same address.
    @Test func agreesWithGlibcInetAton() {
        let alphabet = Array("0123456789.xXaAfFg")
        var random = SplitMix64(seed: 0x6169_726c_6f63_6b)
        for _ in 0..<20_000 {
            let length = Int(random.next() % 14) + 1
            let text = String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            var raw = in_addr()
            let cReads = inet_aton(text, &raw) != 0
            let host = NormalisedHost(text)
            if cReads {
                let b = withUnsafeBytes(of: raw.s_addr) { Array($0) }
                #expect(host == .address(IPAddress(bytes: b)!), "\(text)")
            } else if case .address(let a)? = host {
                Issue.record("\(text) read as \(a) but inet_aton refuses it")
            }
        }
    }

    @Test(arguments: ["fe80::1%eth0", "[fe80::1%eth0]", "[fe80::1%25eth0]", "fe80::1%1"])
    func refusesZones(text: String) {
        guard case .failure(let e) = NormalisedHost.parse(Substring(text)) else { Issue.record("accepted \(text)"); return }
        #expect(e.message.contains("zone"), "\(e.message)")
    }

    /// Internationalised names become their xn-- form (values cross-checked with Python's codecs).
    @Test(arguments: [
        ("bücher.example", "xn--bcher-kva.example"), ("BÜCHER.example", "xn--bcher-kva.example"),
        ("BüCHER.EXAMPLE.", "xn--bcher-kva.example"), ("bu\u{308}cher.example", "xn--bcher-kva.example"),
        ("bücher．example", "xn--bcher-kva.example"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah"), ("例え。テスト", "xn--r8jz45g.xn--zckzah"),
        ("例え．テスト", "xn--r8jz45g.xn--zckzah"), ("例え｡テスト。", "xn--r8jz45g.xn--zckzah"),
        ("日本語。JP", "xn--wgv71a119e.jp"), ("ПРИМЕР.испытание", "xn--e1afmkfd.xn--80akhbyknj4f"),
        ("straße.de", "xn--strae-oqa.de"), ("İstanbul.example", "xn--istanbul-o0e.example"),
        ("١٢٧.example", "xn--9hbcp.example"), ("Xn--BCHER-KVA.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.bücher", "xn--bcher-kva.xn--bcher-kva"),
        // U+212A KELVIN SIGN lowercases to an ASCII k, so the label is plain ASCII.
        ("\u{212A}elvin.example", "kelvin.example"),
    ])
    func encodesInternationalisedNames(text: String, name: String) {
        #expect(NormalisedHost(text) == .name(name))
    }

    @Test func fullWidthDotsCanSpellAnAddress() {
        #expect(NormalisedHost("127。0。0。1") == .address(IPAddress("127.0.0.1")!))
        #expect(NormalisedHost("127．1") == .address(IPAddress("127.0.0.1")!))
        #expect(NormalisedHost("127｡1｡") == nil)
    }

    @Test(arguments: [
        ("bü cher.example", "U+20"), ("bü\u{200D}cher.example", "U+200D"), ("bü\u{200C}cher.example", "U+200C"),
        ("bü\u{202E}cher.example", "U+202E"), ("bü\u{200B}cher.example", "U+200B"), ("♥.example", "U+2665"),
        ("bü_cher.example", "U+5F"), ("bü!cher.example", "U+21"), ("bü\u{7}cher.example", "U+7"), ("bü\u{20DD}.example", "U+20DD"),
        ("bücher.example:443", "may hold only"), ("\u{301}bücher.example", "combining mark"), ("-bücher.example", "'-'"),
        ("bücher-.example", "'-'"), ("xn--bücher.example", "xn--"), ("ｅｘａｍｐｌｅ.com", "compatibility"),
        ("１２７.0.0.1", "compatibility"), ("ﬁlé.example", "compatibility"), ("bücher..example", "empty label"),
        (String(repeating: "ü", count: 60) + ".example", "longer than 63"),
        (String(repeating: "ü", count: 100) + "." + String(repeating: "ö", count: 100) + ".example", "longer than 63"),
        (String(repeating: "üb.", count: 60) + "example", "longer than 253"),
        (String(repeating: "ü", count: 507), "longer than 1012 bytes"),
    ])
    func refusesInternationalisedNames(text: String, says: String) {
        guard case .failure(let e) = NormalisedHost.parse(Substring(text)) else { Issue.record("accepted \(text)"); return }
        #expect(e.message.contains(says), "\(e.message)")
    }

    @Test(arguments: ["", ".", "a..b", "-a.com", "a-.com", "a b.com", "example.com:443", "[10.0.0.1]", "[::1",
                      "exa*mple.com", String(repeating: "a", count: 64) + ".com", String(repeating: "a.", count: 127) + "com",
                      "1.2.3.4 ", " 1.2.3.4", "-1", "1.2.3.-4"])
    func refuses(text: String) {
        #expect(NormalisedHost(text) == nil)
    }
}

/// A small deterministic generator (SplitMix64), so a failing random case repeats.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
