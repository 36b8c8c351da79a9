/// An IPv4 address as its 32-bit value (most significant octet first when printed).
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: UInt32

    public init(_ value: UInt32) { self.value = value }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text (`169.254.1.2`): four decimal octets 0…255, no leading zeros
    /// (which some parsers read as octal), nothing else. Nil otherwise.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(p.count > 1 && p.first == "0"), let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        value = v
    }

    /// The four octets in network order.
    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }

    public var description: String { bytes.map(String.init).joined(separator: ".") }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
}

/// The two ends of one agent's veth: a /31 (RFC 3021, no network or broadcast address) from
/// 169.254.0.0/16, the hub end even, the agent end odd.
///
/// Allocation never touches 169.254.169.0/24 (so never the cloud metadata address 169.254.169.254)
/// nor 169.254.0.0/24 and 169.254.255.0/24 (RFC 3927 §2.1 reserves them). That leaves third octets
/// 1…254 without 169: 253 blocks of 128 pairs.
public struct LinkLocalPair: Hashable, Sendable, CustomStringConvertible {
    public let hub: IPv4Address
    public let agent: IPv4Address

    /// Prefix length of both addresses.
    public static let prefixLength = 31
    /// Pairs in one /24.
    public static let pairsPerBlock = 128
    /// Third octets we hand out, in order.
    static let blocks: [UInt8] = (1...254).filter { $0 != 169 }.map { UInt8($0) }
    /// How many distinct pairs exist (32384); valid indices are 0..<capacity.
    public static let capacity = blocks.count * pairsPerBlock

    /// The pair for `index`, or nil when `index` is outside 0..<capacity. Pure: equal indices give
    /// equal pairs, distinct indices give disjoint pairs.
    public init?(index: Int) {
        guard index >= 0, index < Self.capacity else { return nil }
        let block = Self.blocks[index / Self.pairsPerBlock]
        let low = UInt8((index % Self.pairsPerBlock) * 2)
        hub = IPv4Address(169, 254, block, low)
        agent = IPv4Address(169, 254, block, low + 1)
    }

    /// The index whose pair contains `address`, or nil when allocation never produces it.
    public static func index(containing address: IPv4Address) -> Int? {
        let b = address.bytes
        guard b[0] == 169, b[1] == 254, let block = blocks.firstIndex(of: b[2]) else { return nil }
        return block * pairsPerBlock + Int(b[3]) / 2
    }

    public var description: String { "\(hub)/\(Self.prefixLength) <-> \(agent)/\(Self.prefixLength)" }
}
