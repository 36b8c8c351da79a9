import Testing
import AirlockCore
@testable import AirlockPolicy

/// One blocklist row as the tests expect it: addresses at its start, inside and at its end that
/// it blocks, and addresses just outside it that it does not.
struct BlockedRow: Sendable, CustomTestStringConvertible {
    let cidr: String
    let token: String
    let start: String
    let inside: String
    let end: String
    let outside: [String]
    /// The token reported for `start` when a more specific row comes first and owns it.
    var startToken: String?

    var testDescription: String { "\(cidr) \(token)" }
    var isIPv4: Bool { !cidr.contains(":") }
}

@Suite struct AddressBlocklistTests {
    static let rows: [BlockedRow] = [
        BlockedRow(cidr: "169.254.169.254/32", token: "metadata", start: "169.254.169.254", inside: "169.254.169.254",
                   end: "169.254.169.254", outside: ["169.254.169.253", "169.254.169.255"]),
        BlockedRow(cidr: "fd00:ec2::254/128", token: "metadata", start: "fd00:ec2::254", inside: "fd00:ec2::254",
                   end: "fd00:ec2::254", outside: ["fd00:ec2::253", "fd00:ec2::255"]),
        BlockedRow(cidr: "100.100.100.200/32", token: "metadata", start: "100.100.100.200", inside: "100.100.100.200",
                   end: "100.100.100.200", outside: ["100.100.100.199", "100.100.100.201"]),
        BlockedRow(cidr: "192.0.0.192/32", token: "metadata", start: "192.0.0.192", inside: "192.0.0.192",
                   end: "192.0.0.192", outside: ["192.0.0.191", "192.0.0.193"]),
        BlockedRow(cidr: "168.63.129.16/32", token: "metadata", start: "168.63.129.16", inside: "168.63.129.16",
                   end: "168.63.129.16", outside: ["168.63.129.15", "168.63.129.17"]),
        BlockedRow(cidr: "0.0.0.0/8", token: "this-network", start: "0.0.0.0", inside: "0.1.2.3", end: "0.255.255.255",
                   outside: ["1.0.0.0"]),
        BlockedRow(cidr: "127.0.0.0/8", token: "loopback", start: "127.0.0.0", inside: "127.0.0.1", end: "127.255.255.255",
                   outside: ["126.255.255.255", "128.0.0.0"]),
        BlockedRow(cidr: "10.0.0.0/8", token: "private", start: "10.0.0.0", inside: "10.20.30.40", end: "10.255.255.255",
                   outside: ["9.255.255.255", "11.0.0.0"]),
        BlockedRow(cidr: "172.16.0.0/12", token: "private", start: "172.16.0.0", inside: "172.20.1.1", end: "172.31.255.255",
                   outside: ["172.15.255.255", "172.32.0.0"]),
        BlockedRow(cidr: "192.168.0.0/16", token: "private", start: "192.168.0.0", inside: "192.168.1.1", end: "192.168.255.255",
                   outside: ["192.167.255.255", "192.169.0.0"]),
        BlockedRow(cidr: "100.64.0.0/10", token: "shared", start: "100.64.0.0", inside: "100.100.100.100", end: "100.127.255.255",
                   outside: ["100.63.255.255", "100.128.0.0"]),
        BlockedRow(cidr: "169.254.0.0/16", token: "link-local", start: "169.254.0.0", inside: "169.254.1.1", end: "169.254.255.255",
                   outside: ["169.253.255.255", "169.255.0.0"]),
        BlockedRow(cidr: "192.0.0.0/24", token: "ietf-protocol", start: "192.0.0.0", inside: "192.0.0.8", end: "192.0.0.255",
                   outside: ["191.255.255.255", "192.0.1.0"]),
        BlockedRow(cidr: "198.18.0.0/15", token: "benchmarking", start: "198.18.0.0", inside: "198.19.1.1", end: "198.19.255.255",
                   outside: ["198.17.255.255", "198.20.0.0"]),
        BlockedRow(cidr: "224.0.0.0/4", token: "multicast", start: "224.0.0.0", inside: "230.1.2.3", end: "239.255.255.255",
                   outside: ["223.255.255.255", "240.0.0.0"]),
        BlockedRow(cidr: "240.0.0.0/4", token: "reserved", start: "240.0.0.0", inside: "250.1.2.3", end: "255.255.255.255",
                   outside: ["239.255.255.255"]),
        BlockedRow(cidr: "::/128", token: "unspecified", start: "::", inside: "::", end: "::", outside: ["::1"]),
        BlockedRow(cidr: "::1/128", token: "loopback", start: "::1", inside: "::1", end: "::1", outside: ["::", "::2"]),
        BlockedRow(cidr: "::/96", token: "ipv4-compatible", start: "::", inside: "::8.8.8.8", end: "::255.255.255.255",
                   outside: ["::1:0:0"], startToken: "unspecified"),
        BlockedRow(cidr: "64:ff9b::/96", token: "nat64", start: "64:ff9b::", inside: "64:ff9b::8.8.8.8", end: "64:ff9b::ffff:ffff",
                   outside: ["64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", "64:ff9b::1:0:0"]),
        BlockedRow(cidr: "64:ff9b:1::/48", token: "nat64", start: "64:ff9b:1::", inside: "64:ff9b:1::a00:1",
                   end: "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", outside: ["64:ff9b:0:ffff:ffff:ffff:ffff:ffff", "64:ff9b:2::"]),
        BlockedRow(cidr: "2001::/32", token: "teredo", start: "2001::", inside: "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                   end: "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", outside: ["2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:1::"]),
        BlockedRow(cidr: "2002::/16", token: "6to4", start: "2002::", inside: "2002:c000:204::1", end: "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                   outside: ["2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::"]),
        BlockedRow(cidr: "fc00::/7", token: "ula", start: "fc00::", inside: "fd12:3456::1", end: "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                   outside: ["fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::"]),
        BlockedRow(cidr: "fe80::/10", token: "link-local", start: "fe80::", inside: "fe80::1", end: "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                   outside: ["fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::"]),
        BlockedRow(cidr: "fec0::/10", token: "site-local", start: "fec0::", inside: "fec0::1", end: "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                   outside: ["febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff00::"]),
        BlockedRow(cidr: "ff00::/8", token: "multicast", start: "ff00::", inside: "ff02::1", end: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                   outside: ["feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),
    ]

    func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    func entry(_ cidr: String) -> AddressBlocklist.Entry? {
        AddressBlocklist.entries.first { "\($0.network)/\($0.prefixLength)" == cidr }
    }

    @Test func everyRowIsTested() {
        #expect(Set(AddressBlocklist.entries.map { "\($0.network)/\($0.prefixLength)" }) == Set(Self.rows.map(\.cidr)))
        #expect(AddressBlocklist.entries.count == Self.rows.count, "no row is listed twice")
    }

    @Test(arguments: rows)
    func blocksRow(row: BlockedRow) throws {
        let e = try #require(entry(row.cidr))
        #expect(e.token == row.token)
        for text in [row.start, row.inside, row.end] {
            #expect(e.contains(ip(text)), "\(text)")
        }
        #expect(AddressBlocklist.blocked(ip(row.start))?.token == row.startToken ?? row.token, "\(row.start)")
        #expect(AddressBlocklist.blocked(ip(row.inside)) == e, "\(row.inside)")
        #expect(AddressBlocklist.blocked(ip(row.end)) == e, "\(row.end)")
        for text in row.outside {
            #expect(!e.contains(ip(text)), "\(text)")
            #expect(AddressBlocklist.blocked(ip(text)) != e, "\(text)")
        }
    }

    @Test(arguments: rows.filter(\.isIPv4))
    func blocksIPv4MappedForms(row: BlockedRow) throws {
        let e = try #require(entry(row.cidr))
        for text in [row.start, row.inside, row.end] {
            #expect(AddressBlocklist.blocked(ip("::ffff:" + text)) == e, "::ffff:\(text)")
        }
        for text in row.outside {
            #expect(AddressBlocklist.blocked(ip("::ffff:" + text)) != e, "::ffff:\(text)")
        }
    }

    @Test(arguments: ["8.8.8.8", "1.1.1.1", "192.0.2.1", "198.51.100.7", "203.0.113.9", "172.15.255.255", "100.128.0.0",
                      "192.0.1.0", "168.63.129.17", "223.255.255.255", "::ffff:8.8.8.8", "::ffff:203.0.113.9",
                      "2001:db8::1", "2606:4700::1111", "2001:1::1", "2003::1", "fe00::1", "::1:0:0"])
    func publicAddressesPass(text: String) {
        #expect(AddressBlocklist.blocked(ip(text)) == nil)
    }

    @Test func metadataWinsOverBroaderRows() {
        for text in ["169.254.169.254", "::ffff:169.254.169.254", "100.100.100.200", "192.0.0.192", "fd00:ec2::254"] {
            #expect(AddressBlocklist.blocked(ip(text))?.token == "metadata", "\(text)")
        }
        // No row hides a later one: where rows overlap, the more specific comes first.
        let rows = AddressBlocklist.entries
        for (i, earlier) in rows.enumerated() {
            for later in rows[(i + 1)...] where later.prefixLength >= earlier.prefixLength {
                #expect(!earlier.contains(later.network), "\(earlier) hides \(later)")
            }
        }
    }

    /// However a request spells a blocked address, the normalised host is blocked.
    @Test(arguments: ["127.1", "0x7f000001", "017700000001", "2130706433", "0", "0x7f.1", "::ffff:7f00:1", "[::ffff:127.0.0.1]",
                      "169.254.43518", "0xa9fea9fe", "127。0。0。1", "[fe80::1]", "10.1", "0300.0250.1.1"])
    func oddSpellingsAreBlocked(text: String) throws {
        guard case .address(let a)? = NormalisedHost(text) else { Issue.record("\(text) is not an address"); return }
        #expect(AddressBlocklist.blocked(a) != nil, "\(text) → \(a)")
    }

    @Test func rowsReadWell() {
        let tokens: Set = ["metadata", "this-network", "loopback", "private", "shared", "link-local", "ietf-protocol", "benchmarking",
                           "multicast", "reserved", "unspecified", "ipv4-compatible", "nat64", "teredo", "6to4", "ula", "site-local"]
        for e in AddressBlocklist.entries {
            #expect(tokens.contains(e.token), "\(e)")
            #expect(!e.text.isEmpty && !e.network.hasBits(after: e.prefixLength), "\(e)")
        }
        #expect(entry("10.0.0.0/8")?.description == "10.0.0.0/8")
        #expect(entry("fc00::/7")?.description == "[fc00::/7]")
    }
}
