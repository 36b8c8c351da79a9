/// One thing wrong with a policy file, printed as `FILE:LINE:COL: path.to.field: what is wrong`.
///
/// `position` is `nil` for problems with the file as a whole (cannot read it, too large); `path`
/// is empty for problems not inside any field (syntax errors at the top level).
public struct PolicyProblem: Hashable, Sendable, CustomStringConvertible {
    public let file: String
    public let position: SourcePosition?
    public let path: String
    public let message: String

    public init(file: String, position: SourcePosition?, path: String, message: String) {
        self.file = file
        self.position = position
        self.path = path
        self.message = message
    }

    public var description: String {
        var out = file
        if let p = position { out += ":\(p.line):\(p.column)" }
        out += ": "
        if !path.isEmpty { out += path + ": " }
        return out + message
    }
}

/// Why a policy was refused: every problem found, in file order. A policy with any problem is
/// never used (design §2 invariant 7: the last good policy stays in force).
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// More than this many problems are summarised in one last line: the first ones are what
    /// the operator fixes first, and a hostile file must not produce an unbounded report.
    public static let maxProblems = 100

    public let problems: [PolicyProblem]

    public init(problems: [PolicyProblem]) {
        precondition(!problems.isEmpty, "a PolicyError needs at least one problem")
        self.problems = problems
    }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
