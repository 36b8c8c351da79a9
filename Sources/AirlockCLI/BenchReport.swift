import AirlockPolicy

/// The figures of one `airlock bench` run: a table for people and the same as JSON.
struct BenchReport {
    static let gib = 1024.0 * 1024 * 1024

    /// One measured figure. With a `baseline` (same unit), `ratio` is value ÷ baseline and
    /// `maxRatio` or `minRatio` the target; without one, `maxValue` (strictly under) is an
    /// absolute target. A missed target says by how much (`missedBy`).
    struct Figure {
        let key: String
        let label: String
        let value: Double
        let unit: String
        var baseline: Double? = nil
        var baselineLabel: String? = nil
        var maxRatio: Double? = nil
        var minRatio: Double? = nil
        var maxValue: Double? = nil
        /// A target this run could not check, and why (its baseline's phases did not run):
        /// shown instead of a verdict, so a partial run does not read as a figure without one.
        var unchecked: (target: String, why: String)? = nil

        var ratio: Double? { baseline.map { value / $0 } }
        var target: String? {
            if let r = maxRatio { return "≤ \(BenchReport.format(r))× \(baselineLabel ?? "baseline")" }
            if let r = minRatio { return "≥ \(BenchReport.format(r))× \(baselineLabel ?? "baseline")" }
            if let v = maxValue { return "< \(BenchReport.format(v)) \(unit)" }
            return nil
        }
        var met: Bool? {
            if let r = maxRatio, let ratio { return ratio <= r }
            if let r = minRatio, let ratio { return ratio >= r }
            if let v = maxValue { return value < v }
            return nil
        }
        /// How far a missed target is, as the factor the figure must improve by less one
        /// (0.25: 25 % too slow or too big); nil when met or without a target.
        var missedBy: Double? {
            guard met == false else { return nil }
            if let r = maxRatio, let ratio { return ratio / r - 1 }
            if let r = minRatio, let ratio { return r / ratio - 1 }
            if let v = maxValue { return value / v - 1 }
            return nil
        }
    }

    var figures: [Figure] = []
    /// Readings that explain the figures (CPU split, counts); numbers only.
    var details: [(String, Double)] = []
    var parameters: [(String, String)] = []
    var machine: [(String, String)] = []
    /// Phases that did not run, and why.
    var skipped: [(String, String)] = []

    mutating func add(_ f: Figure) { figures.append(f) }

    /// The table: figure, value, baseline, ratio, target, met.
    func table() -> String {
        var t = TextTable(["figure", "value", "baseline", "ratio", "target", "met"])
        for f in figures {
            t.add([f.label, "\(BenchReport.format(f.value)) \(f.unit)",
                   f.baseline.map { "\(BenchReport.format($0)) \(f.unit)" } ?? "-",
                   f.ratio.map { "\(BenchReport.format($0))×" } ?? "-",
                   f.target ?? f.unchecked?.target ?? "-",
                   f.met.map { $0 ? "yes" : "NO, missed by \(BenchReport.percent(f.missedBy ?? 0))" }
                       ?? f.unchecked.map { "not checked: \($0.why)" } ?? "-"])
        }
        var out = t.render()
        for (phase, why) in skipped { out += "\nskipped: \(phase): \(why)" }
        return out
    }

    /// The same figures as a JSON object: `machine`, `parameters`, `figures` by key (value, unit,
    /// baseline, ratio, target, met; absent ones null) and `details`.
    func json() -> String {
        func number(_ d: Double?) -> String {
            guard let d, d.isFinite else { return "null" }
            return "\(d)"
        }
        func strings(_ pairs: [(String, String)]) -> String {
            "{\n" + pairs.map { "    \(JSONNode.quoted($0.0)): \(JSONNode.quoted($0.1))" }.joined(separator: ",\n") + "\n  }"
        }
        var out = "{\n  \"machine\": \(strings(machine)),\n  \"parameters\": \(strings(parameters)),\n  \"figures\": {\n"
        out += figures.map { f in
            let members = [
                ("label", JSONNode.quoted(f.label)),
                ("value", number(f.value)),
                ("unit", JSONNode.quoted(f.unit)),
                ("baseline", number(f.baseline)),
                ("ratio", number(f.ratio)),
                ("target", f.target.map { JSONNode.quoted($0) } ?? "null"),
                ("met", f.met.map { $0 ? "true" : "false" } ?? "null"),
                ("missed_by", number(f.missedBy)),
                ("unchecked", f.unchecked.map { JSONNode.quoted("\($0.target): \($0.why)") } ?? "null"),
            ]
            return "    \(JSONNode.quoted(f.key)): { " + members.map { "\(JSONNode.quoted($0.0)): \($0.1)" }.joined(separator: ", ") + " }"
        }.joined(separator: ",\n")
        out += "\n  },\n  \"skipped\": \(strings(skipped)),\n  \"details\": {\n"
        out += details.map { "    \(JSONNode.quoted($0.0)): \(number($0.1))" }.joined(separator: ",\n")
        out += "\n  }\n}\n"
        return out
    }

    /// `0.25` as `25 %`, `3.2` as `320 %`.
    static func percent(_ d: Double) -> String { "\(format(d * 100)) %" }

    /// Three significant digits, plain notation.
    static func format(_ d: Double) -> String {
        guard d.isFinite else { return "\(d)" }
        let magnitude = abs(d)
        let decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (d * scale).rounded() / scale
        var s = decimals == 0 ? "\(Int(rounded))" : "\(rounded)"
        // Pad to the chosen decimals ("1.5" → "1.50") so columns read evenly.
        if decimals > 0, let dot = s.firstIndex(of: ".") {
            let have = s.distance(from: dot, to: s.endIndex) - 1
            if have < decimals { s += String(repeating: "0", count: decimals - have) }
        }
        return s
    }
}
