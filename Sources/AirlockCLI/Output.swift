#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy

/// What the commands print and how: stdout through `write(2)` so nothing sits in a stdio buffer
/// when a command returns, and small JSON and text helpers shared by the commands.
enum Output {
    /// Writes `text` to stdout, adding a final newline if it lacks one.
    static func out(_ text: String) {
        var line = text
        if !line.hasSuffix("\n") { line += "\n" }
        writeAll(1, Array(line.utf8))
    }

    /// Writes `bytes` to `fd` whole, retrying short writes and `EINTR`. Returns false on an error
    /// (a closed pipe, a full disk), which the caller reports.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    /// True when `fd` is a terminal, where a secret must never be printed by accident.
    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// A flat JSON object of string members, two-space indented, members in the given order.
    static func jsonObject(_ members: [(String, String)]) -> String {
        let body = members.map { "  \(JSONNode.quoted($0.0)): \(JSONNode.quoted($0.1))" }.joined(separator: ",\n")
        return "{\n\(body)\n}"
    }

    /// `1 agent`, `2 agents`.
    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// The message of the current `errno`.
    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// The first line of a help text: the usage line printed after a usage error.
    static func usageLine(_ help: String) -> String {
        help.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? help
    }
}
