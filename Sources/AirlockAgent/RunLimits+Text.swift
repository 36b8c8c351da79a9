extension RunLimits {
    /// The option with its value, as messages name it: `--pids 64`, `--memory 256 MiB`,
    /// `--cpu 1 s`, `--timeout 1.5 s`; the bare option when it is not set.
    public func option(_ reason: LimitWatch.Reason) -> String {
        let value: String?
        switch reason {
        case .timeout: value = timeout.map(Self.secondsText)
        case .pids: value = pids.map { "\($0)" }
        case .memory: value = memory.map(Self.sizeText)
        case .cpu: value = cpu.map(Self.secondsText)
        }
        return value.map { "\(reason) \($0)" } ?? "\(reason)"
    }

    /// `--kill-on-deny N`.
    public var killOnDenyOption: String { killOnDeny.map { "--kill-on-deny \($0)" } ?? "--kill-on-deny" }

    /// Bytes in the largest power-of-1024 unit that divides them: `64 MiB`, `1536 KiB`, `2 GiB`.
    public static func sizeText(_ bytes: UInt64) -> String {
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) bytes"
    }

    /// Seconds, whole when they are: `30 s`, `1.5 s`.
    public static func secondsText(_ seconds: Double) -> String {
        if seconds == seconds.rounded(), seconds < 1e15 { return "\(Int64(seconds)) s" }
        return "\(seconds) s"
    }
}
