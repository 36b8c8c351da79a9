/// A place in a text file: 1-based line and column, columns counted in Unicode scalars.
public struct SourcePosition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let line: Int
    public let column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: SourcePosition, b: SourcePosition) -> Bool { (a.line, a.column) < (b.line, b.column) }
    public var description: String { "\(line):\(column)" }
}

/// A parsed JSON value with the position of its first character, so the policy validator can
/// point at the exact value it refuses. Other strict readers (the relay's config file) use it too.
public struct JSONNode: Sendable {
    public enum Value: Sendable {
        case null
        case bool(Bool)
        /// The literal text, already checked against the JSON number grammar; the validator
        /// decides which numbers it accepts (integers only, in a range).
        case number(String)
        case string(String)
        case array([JSONNode])
        /// Members in file order, duplicates kept, so the validator can report them.
        case object([JSONMember])
    }

    public let value: Value
    public let position: SourcePosition

    /// `s` as a JSON string literal (RFC 8259 §7), for naming keys and values in messages and
    /// for other modules' JSON output. The one quoting function of the package.
    public static func quoted(_ s: String) -> String { JSONWriter.quoted(s) }

    /// How a value is named in "got …" messages.
    public var summary: String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        case .string(let s): return JSONWriter.quoted(s.count > 40 ? String(s.prefix(40)) + "…" : s)
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

public struct JSONMember: Sendable {
    public let key: String
    public let keyPosition: SourcePosition
    public let value: JSONNode
}
