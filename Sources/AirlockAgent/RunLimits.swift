/// The bounds `airlock run` may put on an agent's tree (`--timeout`, `--memory`, `--pids`,
/// `--cpu`, `--kill-on-deny`). Each one that is set is enforced or the run does not start.
public struct RunLimits: Codable, Sendable, Equatable {
    /// Wall-clock seconds from the start; then the tree is killed.
    public var timeout: Double?
    /// Bytes of memory the tree may use (cgroup memory limit); the tree is killed when the kernel
    /// has to kill for it.
    public var memory: UInt64?
    /// Processes and threads the tree may have at once; the tree is killed when a fork fails
    /// for it.
    public var pids: Int?
    /// CPU seconds the tree may use in all; then it is killed.
    public var cpu: Double?
    /// Refused connection attempts after which the tree is killed.
    public var killOnDeny: Int?

    public init(timeout: Double? = nil, memory: UInt64? = nil, pids: Int? = nil, cpu: Double? = nil, killOnDeny: Int? = nil) {
        self.timeout = timeout; self.memory = memory; self.pids = pids; self.cpu = cpu; self.killOnDeny = killOnDeny
    }

    public var isEmpty: Bool { self == RunLimits() }

    /// A duration: `90`, `90s`, `1.5m`, `2h`. Positive and at most 30 days.
    public static func parseDuration(_ text: String, option: String) throws(LimitError) -> Double {
        var digits = Substring(text)
        var scale = 1.0
        if let last = digits.last, let s = ["s": 1.0, "m": 60.0, "h": 3600.0][String(last)] {
            scale = s
            digits = digits.dropLast()
        }
        guard let v = Double(digits), v.isFinite, v > 0, v * scale <= 30 * 86400 else {
            throw LimitError("--\(option) \(text): expected a positive duration such as 30, 30s, 5m or 2h (at most 30 days)")
        }
        return v * scale
    }

    /// A size in bytes: `1048576`, `512K`, `256M`, `2G` (powers of 1024; `KiB`/`MiB`/`GiB` too).
    /// At least 1 MiB: less cannot even start a shell.
    public static func parseSize(_ text: String, option: String) throws(LimitError) -> UInt64 {
        var s = Substring(text.uppercased())
        if s.hasSuffix("IB") { s = s.dropLast(2) } else if s.hasSuffix("B") { s = s.dropLast() }
        var scale: UInt64 = 1
        if let last = s.last, let k = ["K": UInt64(1) << 10, "M": UInt64(1) << 20, "G": UInt64(1) << 30, "T": UInt64(1) << 40][String(last)] {
            scale = k
            s = s.dropLast()
        }
        guard let v = Double(s), v.isFinite, v > 0, v * Double(scale) < 0x1p62 else {
            throw LimitError("--\(option) \(text): expected a size such as 512M or 2G")
        }
        let bytes = UInt64(v * Double(scale))
        guard bytes >= 1 << 20 else { throw LimitError("--\(option) \(text): at least 1M") }
        return bytes
    }

    /// A whole number from 1 to `max`.
    public static func parseCount(_ text: String, option: String, min: Int = 1, max: Int = 1 << 22) throws(LimitError) -> Int {
        guard let v = Int(text), v >= min, v <= max else { throw LimitError("--\(option) \(text): expected a whole number from \(min) to \(max)") }
        return v
    }
}

/// A limit given wrongly, or one this machine cannot enforce.
public struct LimitError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
