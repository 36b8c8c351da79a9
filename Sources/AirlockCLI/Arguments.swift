/// A small argument parser: `--flag VALUE`, `--flag=VALUE`, repeated flags, boolean switches,
/// positionals, and `--` ending options. Errors are usage errors (exit 64).
public struct Arguments {
    public struct UsageError: Error, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    public private(set) var values: [String: [String]] = [:]
    public private(set) var switches: Set<String> = []
    public private(set) var positionals: [String] = []
    /// Everything after `--`, untouched.
    public private(set) var rest: [String] = []

    /// - Parameters:
    ///   - options: flags that take a value (without leading dashes).
    ///   - flags: boolean switches (without leading dashes). `help` is always accepted.
    public init(_ args: [String], options: Set<String>, flags: Set<String> = []) throws(UsageError) {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { rest = Array(args[(i + 1)...]); break }
            if a == "-h" { switches.insert("help"); i += 1; continue }
            if a.hasPrefix("--") {
                var name = String(a.dropFirst(2))
                var inline: String? = nil
                if let eq = name.firstIndex(of: "=") { inline = String(name[name.index(after: eq)...]); name = String(name[..<eq]) }
                if name == "help" || flags.contains(name) {
                    guard inline == nil else { throw UsageError("--\(name) takes no value") }
                    switches.insert(name)
                } else if options.contains(name) {
                    if let inline { values[name, default: []].append(inline) } else {
                        guard i + 1 < args.count else { throw UsageError("--\(name) needs a value") }
                        // `--policy --no-reload`: the value was forgotten, not an option given as one.
                        let next = args[i + 1]
                        if next == "--" || next == "-h" || (next.hasPrefix("--") && Self.isOption(next, options, flags)) {
                            throw UsageError("--\(name) needs a value (got the option \(next); write --\(name)=VALUE for a value that starts with --)")
                        }
                        i += 1
                        values[name, default: []].append(next)
                    }
                } else {
                    throw UsageError("unknown option --\(name)")
                }
            } else if a.hasPrefix("-") && a.count > 1 {
                throw UsageError("unknown option \(a)")
            } else {
                positionals.append(a)
            }
            i += 1
        }
    }

    /// Whether `arg` (`--name` or `--name=value`) is one of this command's options or flags.
    private static func isOption(_ arg: String, _ options: Set<String>, _ flags: Set<String>) -> Bool {
        let name = String(arg.dropFirst(2).prefix { $0 != "=" })
        return name == "help" || options.contains(name) || flags.contains(name)
    }

    public func value(_ name: String) throws(UsageError) -> String? {
        guard let v = values[name] else { return nil }
        guard v.count == 1 else { throw UsageError("--\(name) given more than once") }
        return v[0]
    }
    public func required(_ name: String) throws(UsageError) -> String {
        guard let v = try value(name) else { throw UsageError("--\(name) is required") }
        return v
    }
    public func all(_ name: String) -> [String] { values[name] ?? [] }
    public func has(_ name: String) -> Bool { switches.contains(name) }
    public var wantsHelp: Bool { switches.contains("help") }
}
