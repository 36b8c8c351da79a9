/// One network interface as netlink reports it.
public struct LinkInfo: Hashable, Sendable, CustomStringConvertible {
    /// The interface index, unique within its namespace.
    public let index: Int32
    public let name: String
    /// IFF_UP is set (administratively up).
    public let isUp: Bool
    /// The link kind (`veth`, …) when the kernel reports one; nil for `lo` and plain devices.
    public let kind: String?

    public init(index: Int32, name: String, isUp: Bool, kind: String?) {
        self.index = index; self.name = name; self.isUp = isUp; self.kind = kind
    }

    public var description: String { "\(index): \(name)\(kind.map { " (\($0))" } ?? "")\(isUp ? " up" : "")" }

    /// Longest interface name the kernel accepts (IFNAMSIZ 16 including the NUL).
    public static let maxNameLength = 15

    /// An interface name is 1…15 bytes of printable ASCII other than `/`, `:` and space, and not
    /// `.` or `..` (the kernel's `dev_valid_name`, narrowed to ASCII).
    public static func validate(name: String) throws(NetError) {
        let b = Array(name.utf8)
        if b.isEmpty { throw .invalidName(name, reason: "empty interface name") }
        if b.count > maxNameLength { throw .invalidName(name, reason: "interface name longer than \(maxNameLength) bytes") }
        if name == "." || name == ".." { throw .invalidName(name, reason: "not an interface name") }
        for c in b where c <= 0x20 || c >= 0x7f || c == UInt8(ascii: "/") || c == UInt8(ascii: ":") {
            throw .invalidName(name, reason: "interface names are printable ASCII without / : or space")
        }
    }
}
