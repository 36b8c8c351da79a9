import AirlockCore
import AirlockPolicy

/// A static name → addresses map in `/etc/hosts` form, which an exit consults before any DNS
/// (`airlock exit --hosts FILE`, `airlock relay --exit --hosts FILE`). Tests name their loopback
/// servers through one and turn system DNS off, so no test ever sends a DNS query.
///
/// Format: one entry a line, `ADDRESS NAME [NAME…]`, fields separated by spaces or tabs; `#`
/// starts a comment; blank lines are skipped. Names are normalised as exit requests are
/// (`NormalisedHost`: case, trailing dot, IDNA); a name may appear on several lines and collects
/// their addresses in file order. Anything else is an error naming the file and line.
public struct HostsFile: Sendable, Equatable {
    public struct ParseError: Error, Sendable, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The most a hosts file may hold (it is read whole, at start and on each reload).
    public static let maxSize = 4 << 20

    /// Addresses by normalised name, in file order.
    public let entries: [String: [IPAddress]]

    public init(entries: [String: [IPAddress]]) {
        self.entries = entries
    }

    /// Reads and parses `path`.
    public static func load(path: String) throws(ParseError) -> HostsFile {
        let bytes: [UInt8]
        switch BoundedFile.read(path: path, maxSize: maxSize, tooLarge: "a hosts file may be at most \(maxSize) bytes") {
        case .success(let b): bytes = b
        case .failure(let f): throw ParseError(description: "\(path): \(f.message)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ParseError(description: "\(path): not UTF-8 text") }
        return try parse(text, file: path)
    }

    /// Parses hosts-file text; errors name `file` and the line.
    public static func parse(_ text: String, file: String) throws(ParseError) -> HostsFile {
        var entries: [String: [IPAddress]] = [:]
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = fields.first else { continue }
            guard let address = IPAddress(first) else {
                throw ParseError(description: "\(file):\(lineNumber): \"\(first)\" is not an IP address; expected ADDRESS NAME…")
            }
            guard fields.count >= 2 else { throw ParseError(description: "\(file):\(lineNumber): \(first) names no host; expected ADDRESS NAME…") }
            for nameText in fields.dropFirst() {
                guard case .success(.name(let name)) = NormalisedHost.parse(nameText) else {
                    throw ParseError(description: "\(file):\(lineNumber): \"\(nameText)\" is not a host name")
                }
                let a = address.mappedIPv4 ?? address
                if !(entries[name]?.contains(a) ?? false) { entries[name, default: []].append(a) }
            }
        }
        return HostsFile(entries: entries)
    }

    /// The addresses for a normalised name, or nil when the file does not name it.
    public func lookup(_ name: String) -> [IPAddress]? { entries[name] }
}
