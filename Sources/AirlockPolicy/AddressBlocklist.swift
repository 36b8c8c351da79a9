import AirlockCore

/// The addresses an exit refuses to connect to unless the request's rule names the address
/// itself (an address or CIDR destination containing it; design §2 invariant 6): the exit's own
/// host, the networks behind it, cloud metadata services, and prefixes that lead to an embedded
/// IPv4 address. This table is the single source of truth; docs/policy.md points here.
///
/// Lookups see through IPv4-mapped IPv6 (`::ffff:a.b.c.d`): the mapped address is looked up as
/// the IPv4 address, so every IPv4 row covers its mapped form too, and no row is needed for
/// `::ffff:0:0/96` itself.
///
/// Rows are tried in order and the first match is reported, so the cloud metadata addresses come
/// first and are reported as `metadata`, not as the link-local, shared, IETF or ULA block around
/// them. A row's `token` is stable, for logs an operator greps and tests; several rows may
/// share one.
///
/// Decisions beyond the obvious rows:
/// - Prefixes that embed an IPv4 address are refused whole rather than by looking at the
///   embedded address: IPv4-compatible `::/96` (deprecated, RFC 4291 §2.5.5.1), the NAT64
///   prefixes `64:ff9b::/96` (RFC 6052) and `64:ff9b:1::/48` (local use, RFC 8215), 6to4
///   `2002::/16` (RFC 3056, relays deprecated by RFC 7526) and Teredo `2001::/32` (RFC 4380,
///   whose embedded address is obfuscated). A translator or tunnel on the exit's network would
///   dial the embedded address, which may be private, and none of these is a way to reach a
///   public service that its plain address does not offer. A rule that truly needs one names it.
/// - `192.0.0.0/24` (IETF protocol assignments, RFC 6890) and `198.18.0.0/15` (benchmarking,
///   RFC 2544) are never internet services; local proxies use 198.18/15 for fake DNS answers,
///   so an address there usually means a service on the exit's own host.
/// - `fec0::/10` (site-local, deprecated by RFC 3879) is still routed inside some networks.
/// - `168.63.129.16`, Azure's host endpoint, is a public-looking address that only the Azure
///   platform answers, with VM configuration; it is listed with the metadata addresses.
/// - Documentation ranges (`192.0.2.0/24`, `2001:db8::/32`, …) are not listed: they route
///   nowhere, and tests use them as public-looking values.
public enum AddressBlocklist {
    /// One blocked network.
    public struct Entry: Hashable, Sendable, CustomStringConvertible {
        /// The network's first address; no bits set after `prefixLength`.
        public let network: IPAddress
        public let prefixLength: Int
        /// A short stable name for the kind of address: `loopback`, `private`, `metadata`, …
        public let token: String
        /// A sentence for the operator saying what the addresses are.
        public let text: String

        /// Whether `address` lies in this network (same family only; no IPv4-mapped unwrapping).
        public func contains(_ address: IPAddress) -> Bool { address.isInside(network, prefixLength: prefixLength) }

        /// The network in CIDR form, as a destination would name it: `10.0.0.0/8`, `[fc00::/7]`.
        public var description: String {
            network.isIPv4 ? "\(network)/\(prefixLength)" : "[\(network)/\(prefixLength)]"
        }
    }

    /// Every row, most specific first where rows overlap (see the type's contract).
    public static let entries: [Entry] = [
        // Cloud metadata services, before the blocks that contain them.
        row("169.254.169.254/32", "metadata", "the cloud instance metadata service (AWS, Google Cloud, Azure, OpenStack and others), which hands out credentials"),
        row("fd00:ec2::254/128", "metadata", "the AWS instance metadata service over IPv6"),
        row("100.100.100.200/32", "metadata", "the Alibaba Cloud instance metadata service"),
        row("192.0.0.192/32", "metadata", "the Oracle Cloud instance metadata service"),
        row("168.63.129.16/32", "metadata", "the Azure host endpoint (WireServer), which serves the VM's configuration"),

        // IPv4 (RFC 6890 special-purpose registry).
        row("0.0.0.0/8", "this-network", "\"this network\" (RFC 1122); 0.0.0.0 reaches the exit's own host"),
        row("127.0.0.0/8", "loopback", "loopback (RFC 1122): services on the exit's own host"),
        row("10.0.0.0/8", "private", "a private network (RFC 1918)"),
        row("172.16.0.0/12", "private", "a private network (RFC 1918)"),
        row("192.168.0.0/16", "private", "a private network (RFC 1918)"),
        row("100.64.0.0/10", "shared", "shared address space for carrier-grade NAT (RFC 6598), also used for VPN and cloud-internal networks"),
        row("169.254.0.0/16", "link-local", "link-local (RFC 3927): the exit's own link"),
        row("192.0.0.0/24", "ietf-protocol", "IETF protocol assignments (RFC 6890), such as DS-Lite and NAT64 discovery, not internet services"),
        row("198.18.0.0/15", "benchmarking", "network benchmarking (RFC 2544), also the fake-address range of local proxies"),
        row("224.0.0.0/4", "multicast", "IPv4 multicast (RFC 5771), never a TCP destination"),
        row("240.0.0.0/4", "reserved", "reserved (RFC 1112), including the broadcast address 255.255.255.255"),

        // IPv6 (RFC 6890 and the IANA IPv6 special-purpose registry).
        row("::/128", "unspecified", "the unspecified address, which reaches the exit's own host"),
        row("::1/128", "loopback", "loopback (RFC 4291): services on the exit's own host"),
        row("::/96", "ipv4-compatible", "IPv4-compatible IPv6 (deprecated, RFC 4291), which embeds an IPv4 address"),
        row("64:ff9b::/96", "nat64", "the NAT64 well-known prefix (RFC 6052): a translator would dial the embedded IPv4 address"),
        row("64:ff9b:1::/48", "nat64", "the local-use NAT64 prefix (RFC 8215): a translator would dial the embedded IPv4 address"),
        row("2001::/32", "teredo", "Teredo (RFC 4380), which embeds an IPv4 address reached through a relay"),
        row("2002::/16", "6to4", "6to4 (RFC 3056), which embeds an IPv4 address reached through a tunnel"),
        row("fc00::/7", "ula", "a unique local address (RFC 4193): a private IPv6 network"),
        row("fe80::/10", "link-local", "link-local (RFC 4291): the exit's own link"),
        row("fec0::/10", "site-local", "site-local (deprecated, RFC 3879), still routed inside some networks"),
        row("ff00::/8", "multicast", "IPv6 multicast (RFC 4291), never a TCP destination"),
    ]

    /// The row that blocks `address`, or `nil` if an exit may dial it without a rule naming it.
    /// An IPv4-mapped IPv6 address is looked up as its IPv4 address.
    public static func blocked(_ address: IPAddress) -> Entry? {
        let plain = address.mappedIPv4 ?? address
        return entries.first { $0.contains(plain) }
    }

    /// A row from its CIDR text; the table is ours, so a bad row is a bug.
    private static func row(_ cidr: String, _ token: String, _ text: String) -> Entry {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let network = IPAddress(parts[0]), let length = Int(parts[1]),
              length >= 0, length <= network.bytes.count * 8, !network.hasBits(after: length) else {
            preconditionFailure("bad blocklist row \(cidr)")
        }
        return Entry(network: network, prefixLength: length, token: token, text: text)
    }
}
