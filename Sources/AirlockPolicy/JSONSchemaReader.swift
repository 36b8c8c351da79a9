/// The schema-walking half of a strict JSON file reader: the policy's and the relay config's
/// decoders each hold one, so both files refuse unknown, repeated and missing keys and bad
/// numbers with the same words.
///
/// It collects problems instead of throwing, so a decoder can check every field on its own and
/// report everything wrong in one run; the decoder decides what each section means.
public struct JSONSchemaReader: Sendable {
    /// One key an object may hold.
    public struct Field: Sendable {
        public let name: String
        public let required: Bool
        /// What a missing required key should hold, for "missing "x"; expected …".
        public let expected: String

        public init(name: String, required: Bool, expected: String) {
            self.name = name
            self.required = required
            self.expected = expected
        }
    }

    /// Names the file in every problem.
    public let file: String
    /// In the order reported.
    public private(set) var problems: [PolicyProblem] = []

    public init(file: String) { self.file = file }

    public mutating func report(_ position: SourcePosition?, _ path: String, _ message: String) {
        problems.append(PolicyProblem(file: file, position: position, path: path, message: message))
    }

    /// Problems in file order (problems without a position first, ties in report order), capped
    /// at `PolicyError.maxProblems` with one last line counting the rest.
    public var reportedProblems: [PolicyProblem] {
        let sorted = problems.enumerated().sorted {
            let a = $0.element.position ?? SourcePosition(line: 0, column: 0)
            let b = $1.element.position ?? SourcePosition(line: 0, column: 0)
            return a != b ? a < b : $0.offset < $1.offset
        }.map(\.element)
        guard sorted.count > PolicyError.maxProblems else { return sorted }
        return Array(sorted.prefix(PolicyError.maxProblems))
            + [PolicyProblem(file: file, position: nil, path: "", message: "\(sorted.count - PolicyError.maxProblems) more problems not shown")]
    }

    /// An object's members by key: reports a non-object (`expected <what>`), repeated keys,
    /// unknown keys (with a "did you mean") and missing required keys. `path` is the object's
    /// own path (`""` at the top). `nil` only when `node` is not an object; members with a
    /// problem are left out.
    public mutating func members(_ node: JSONNode, _ path: String, what: String, fields: [Field]) -> [String: JSONNode]? {
        guard case .object(let members) = node.value else {
            report(node.position, path, "expected \(what), got \(node.summary)")
            return nil
        }
        var out: [String: JSONNode] = [:]
        var firstAt: [String: SourcePosition] = [:]
        let names = fields.map(\.name)
        for m in members {
            let p = path.isEmpty ? m.key : "\(path).\(m.key)"
            if let first = firstAt[m.key] {
                report(m.keyPosition, p, "duplicate key; \(JSONNode.quoted(m.key)) is already given at \(first)")
                continue
            }
            firstAt[m.key] = m.keyPosition
            guard names.contains(m.key) else {
                let hint = Self.suggestion(for: m.key, among: names)
                report(m.keyPosition, p, "unknown field\(hint); expected one of: \(names.joined(separator: ", "))")
                continue
            }
            out[m.key] = m.value
        }
        for f in fields where f.required && out[f.name] == nil && firstAt[f.name] == nil {
            report(node.position, path, "missing \(JSONNode.quoted(f.name)); expected \(f.expected)")
        }
        return out
    }

    /// A non-negative integer in `range`, written without sign, fraction or exponent; reported
    /// and `nil` otherwise.
    public mutating func integer<T: FixedWidthInteger>(_ node: JSONNode, _ path: String, expected: String, range: ClosedRange<T>) -> T? {
        guard case .number(let text) = node.value, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            report(node.position, path, "expected \(expected), got \(node.summary)")
            return nil
        }
        guard let n = T(text), range.contains(n) else {
            report(node.position, path, "\(text) is out of range; expected \(expected) from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return n
    }

    /// ` (did you mean "x"?)` when one candidate is within two edits of `word`, else empty.
    public static func suggestion(for word: String, among candidates: [String]) -> String {
        let w = Array(word.utf8)
        var best: (String, Int)?
        for c in candidates.sorted() {
            let d = distance(w, Array(c.utf8))
            if d <= 2, d < max(w.count, 2), best == nil || d < best!.1 { best = (c, d) }
        }
        return best.map { " (did you mean \(JSONNode.quoted($0.0))?)" } ?? ""
    }

    /// Levenshtein distance of two short byte strings; `Int.max` for long ones (no hint is
    /// worth quadratic work on a hostile key).
    private static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard a.count < 64, b.count < 64 else { return Int.max }
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return row[b.count]
    }
}
