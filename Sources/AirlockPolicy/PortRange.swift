/// The ports a destination rule allows: one port (`443`) or an inclusive range (`8000-8080`).
///
/// There is no wildcard: a rule that really means every port says `1-65535`, so the breadth is
/// visible in the file. Port 0 is never valid.
public struct PortRange: Hashable, Sendable, CustomStringConvertible {
    public let lower: UInt16
    public let upper: UInt16

    /// A single port or a range; `nil` if `lower` is 0 or above `upper`.
    public init?(_ lower: UInt16, _ upper: UInt16? = nil) {
        let upper = upper ?? lower
        guard lower >= 1, lower <= upper else { return nil }
        self.lower = lower
        self.upper = upper
    }

    /// Parses `443` or `8000-8080`, or says what is wrong.
    public static func parse(_ text: Substring) -> Result<PortRange, PatternError> {
        if text == "*" {
            return .failure(PatternError("a port wildcard is not allowed; write a range such as 1-65535"))
        }
        guard !text.isEmpty else { return .failure(PatternError("missing port")) }
        if text.filter({ $0 == "-" }).count > 1 {
            return .failure(PatternError("port \"\(text)\" is neither a port nor a range LOW-HIGH such as 8000-8080"))
        }
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let low = port(parts[0]) else { return .failure(PatternError("port \"\(parts[0])\" is not a number from 1 to 65535")) }
        guard parts.count == 2 else { return .success(PortRange(low)!) }
        guard let high = port(parts[1]) else { return .failure(PatternError("port \"\(parts[1])\" is not a number from 1 to 65535")) }
        guard let range = PortRange(low, high) else { return .failure(PatternError("port range \(low)-\(high) is empty; write the lower port first")) }
        return .success(range)
    }

    public func contains(_ port: UInt16) -> Bool { port >= lower && port <= upper }

    /// `443` or `8000-8080`: the form `parse` reads.
    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }

    private static func port(_ text: Substring) -> UInt16? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              text.first != "0", let v = UInt16(text), v >= 1 else { return nil }
        return v
    }
}

/// Why a destination, host or port text was refused: one sentence for the operator.
public struct PatternError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
