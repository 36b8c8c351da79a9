import AirlockCore
import AirlockIO
import AirlockPolicy

/// Turns a parsed relay config document into a `RelayConfigFile`, or into the list of
/// everything wrong with it. Each field is checked on its own, so one run reports every problem.
struct RelayConfigDecoder {
    /// Relative paths in the file are joined to this (`""`: left relative).
    let baseDirectory: String
    private var schema: JSONSchemaReader

    init(file: String, baseDirectory: String) {
        schema = JSONSchemaReader(file: file)
        self.baseDirectory = baseDirectory
    }

    /// Problems in file order, capped like a policy's.
    var reportedProblems: [RelayConfigProblem] { schema.reportedProblems }

    mutating func report(_ position: SourcePosition?, _ path: String, _ message: String) {
        schema.report(position, path, message)
    }

    // MARK: the document

    mutating func decode(_ root: JSONNode) -> RelayConfigFile? {
        // The version decides which fields exist, so it is read before anything else.
        var version = RelayConfigFile.currentVersion
        if case .object(let members) = root.value, let v = members.first(where: { $0.key == "version" })?.value {
            if let n = schema.integer(v, "version", expected: "1", range: 0...Int(Int32.max)) {
                if n > RelayConfigFile.currentVersion {
                    report(v.position, "version", "version \(n) is newer than this airlock reads (1 to \(RelayConfigFile.currentVersion)); upgrade airlock or write version \(RelayConfigFile.currentVersion)")
                    return nil
                }
                if n == 0 { report(v.position, "version", "expected 1, got 0") }
                version = n
            }
        }
        guard let top = schema.members(root, "", what: "a JSON object holding the relay's configuration", fields: Self.topFields) else { return nil }
        if top["version"] == nil { report(root.position, "", "missing \"version\"; expected \"version\": \(RelayConfigFile.currentVersion) as the first field") }

        let listen = top["listen"].flatMap { listenAddresses($0) }
        let key = top["key"].flatMap { path($0, "key", what: "the path of the relay's key file", max: RelayConfigFile.maxPathLength) }
        let policy = top["policy"].flatMap { path($0, "policy", what: "the path of the policy file", max: RelayConfigFile.maxPathLength) }
        let hub = self.hub(top["hub"])
        let exit = self.exit(top["exit"])
        var controlSocket: String? = RelayConfigFile.defaultControlSocket
        if let c = top["control_socket"] {
            controlSocket = path(c, "control_socket", what: "the path of the control socket", max: RelayConfigFile.maxSocketPathLength)
        }
        let logLevel = self.logLevel(top["log_level"])
        var auditLog: String?? = .some(nil)
        if let a = top["audit_log"], !Self.isNull(a) {
            auditLog = path(a, "audit_log", what: "the path of the audit log or null", max: RelayConfigFile.maxPathLength).map { .some($0) }
        }
        let relayConfig = limits(top["limits"])
        guard schema.problems.isEmpty, let listen, let key, let policy, let hub, let exit, let controlSocket, let logLevel,
              let auditLog, let relayConfig else { return nil }
        var config = RelayConfigFile(listen: listen, key: key, policy: policy, hub: hub, exit: exit, controlSocket: controlSocket,
                                     logLevel: logLevel, auditLog: auditLog, relayConfig: relayConfig)
        config.version = version
        return config
    }

    // MARK: fields

    private mutating func listenAddresses(_ node: JSONNode) -> [SocketAddress]? {
        let expected = "a non-empty array of \"host:port\" strings such as \"127.0.0.1:4001\" or \"[::1]:4001\""
        guard case .array(let items) = node.value, !items.isEmpty else {
            let got: String
            if case .array = node.value { got = "[]" } else { got = node.summary }
            report(node.position, "listen", "expected \(expected), got \(got)")
            return nil
        }
        guard items.count <= RelayConfigFile.maxListenAddresses else {
            report(node.position, "listen", "\(items.count) addresses; expected at most \(RelayConfigFile.maxListenAddresses)")
            return nil
        }
        var out: [SocketAddress] = []
        /// Each good address with its index in the file, for "repeats listen[i]".
        var seen: [(index: Int, address: SocketAddress)] = []
        var ok = true
        for (i, item) in items.enumerated() {
            let p = "listen[\(i)]"
            guard case .string(let text) = item.value else {
                report(item.position, p, "expected a \"host:port\" string, got \(item.summary)")
                ok = false
                continue
            }
            switch Self.socketAddress(text) {
            case .failure(let e):
                report(item.position, p, "\(e.message); got \(item.summary)")
                ok = false
            case .success(let address):
                if let first = seen.first(where: { Self.overlaps($0.address, address) }) {
                    let how = first.address == address ? "repeats" : "overlaps (a wildcard address takes every address of its family on that port)"
                    report(item.position, p, "\(address) \(how) listen[\(first.index)] \(first.address)")
                    ok = false
                }
                seen.append((i, address))
                out.append(address)
            }
        }
        return ok ? out : nil
    }

    struct AddressError: Error { let message: String }

    /// `IP:PORT` with a literal IPv4 address or a bracketed IPv6 address; names are not resolved
    /// (a relay must bind exactly where the operator said).
    static func socketAddress(_ text: String) -> Result<SocketAddress, AddressError> {
        let example = "as in 127.0.0.1:4001 or [::1]:4001"
        guard let colon = text.lastIndex(of: ":"), !text.hasSuffix("]") else {
            return .failure(AddressError(message: "missing port; expected host:port \(example)"))
        }
        let host = text[..<colon], portText = text[text.index(after: colon)...]
        guard !portText.isEmpty, portText.utf8.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let port = Int(portText), (1...65535).contains(port) else {
            return .failure(AddressError(message: "the port must be a number from 1 to 65535"))
        }
        guard !host.isEmpty else {
            return .failure(AddressError(message: "missing address before the port; write 0.0.0.0:\(port) or [::]:\(port) for every address"))
        }
        let ip: IPAddress
        if host.hasPrefix("["), host.hasSuffix("]") {
            guard let v6 = IPAddress(ipv6: host.dropFirst().dropLast()) else {
                return .failure(AddressError(message: "invalid IPv6 address; expected host:port \(example)"))
            }
            if v6.mappedIPv4 != nil { return .failure(AddressError(message: "IPv4-mapped IPv6 address; write the IPv4 address")) }
            ip = v6
        } else if host.contains(":") {
            return .failure(AddressError(message: "an IPv6 address goes in brackets, as in [::1]:\(port)"))
        } else if let v4 = IPAddress(ipv4: host) {
            ip = v4
        } else if host.utf8.contains(where: { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) {
            return .failure(AddressError(message: "host names are not resolved; write an IP address \(example)"))
        } else {
            return .failure(AddressError(message: "invalid IPv4 address; expected four decimal parts without leading zeros \(example)"))
        }
        guard let address = SocketAddress(ip: ip.description, port: UInt16(port)) else {
            return .failure(AddressError(message: "invalid address; expected host:port \(example)"))
        }
        return .success(address)
    }

    /// Two listeners that cannot both bind: the same address, or a wildcard and any address of
    /// its family on the same port.
    static func overlaps(_ a: SocketAddress, _ b: SocketAddress) -> Bool {
        guard a.port == b.port else { return false }
        switch (a.ip, b.ip) {
        case (.v4(let x), .v4(let y)): return x == y || x == 0 || y == 0
        case (.v6(let xh, let xl), .v6(let yh, let yl)): return (xh, xl) == (yh, yl) || (xh, xl) == (0, 0) || (yh, yl) == (0, 0)
        default: return false
        }
    }

    /// A path string, resolved against the config file's directory.
    private mutating func path(_ node: JSONNode, _ path: String, what: String, max: Int) -> String? {
        guard case .string(let text) = node.value, !text.isEmpty else {
            report(node.position, path, "expected \(what), got \(node.summary)")
            return nil
        }
        guard !text.utf8.contains(0) else {
            report(node.position, path, "a path cannot contain a NUL character; expected \(what)")
            return nil
        }
        guard !text.hasPrefix("~") else {
            report(node.position, path, "'~' is not expanded; write the full path (relative paths are relative to the config file's directory)")
            return nil
        }
        let resolved = RelayConfigFile.resolve(text, against: baseDirectory)
        guard resolved.utf8.count <= max else {
            let how = resolved == text ? "" : " once resolved to \(JSONNode.quoted(resolved))"
            report(node.position, path, "path is \(resolved.utf8.count) bytes\(how); expected at most \(max)")
            return nil
        }
        return resolved
    }

    private mutating func hub(_ node: JSONNode?) -> RelayConfigFile.Hub? {
        var hub = RelayConfigFile.Hub()
        guard let node else { return hub }
        guard let f = schema.members(node, "hub", what: "an object describing the hub namespace", fields: Self.hubFields) else { return nil }
        var ok = true
        if let p = f["namespace_prefix"] {
            let max = RelayConfigFile.maxNamespacePrefixLength
            if case .string(let text) = p.value, Self.isValidPrefix(text) {
                hub.namespacePrefix = text
            } else {
                report(p.position, "hub.namespace_prefix", "expected 1 to \(max) characters of a-z and 0-9, starting with a letter (no '-': the relay sweeps <prefix>-*), got \(p.summary)")
                ok = false
            }
        }
        if let e = f["enabled"] {
            if case .bool(let b) = e.value { hub.enabled = b } else {
                report(e.position, "hub.enabled", "expected true or false, got \(e.summary)")
                ok = false
            }
        }
        return ok ? hub : nil
    }

    private mutating func exit(_ node: JSONNode?) -> RelayConfigFile.Exit? {
        var exit = RelayConfigFile.Exit()
        guard let node else { return exit }
        guard let f = schema.members(node, "exit", what: "an object describing the relay's exit", fields: Self.exitFields) else { return nil }
        var ok = true
        for (name, keyPath) in [("enabled", \RelayConfigFile.Exit.enabled), ("system_dns", \RelayConfigFile.Exit.systemDNS)] {
            guard let v = f[name] else { continue }
            if case .bool(let b) = v.value { exit[keyPath: keyPath] = b } else {
                report(v.position, "exit.\(name)", "expected true or false, got \(v.summary)")
                ok = false
            }
        }
        if let h = f["hosts"], !Self.isNull(h) {
            if let p = path(h, "exit.hosts", what: "the path of a hosts file or null", max: RelayConfigFile.maxPathLength) { exit.hosts = p } else { ok = false }
        }
        return ok ? exit : nil
    }

    private static func isNull(_ node: JSONNode) -> Bool { if case .null = node.value { return true } else { return false } }

    static func isValidPrefix(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard (1...RelayConfigFile.maxNamespacePrefixLength).contains(b.count), (0x61...0x7A).contains(b[0]) else { return false }
        // No '-': namespaces are `<prefix>-NAME`, so prefix `a` would sweep relay `a-b`'s.
        return b.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }
    }

    private mutating func logLevel(_ node: JSONNode?) -> Logger.Level? {
        guard let node else { return .info }
        let levels: [(String, Logger.Level)] = [("debug", .debug), ("info", .info), ("warn", .warn), ("error", .error)]
        if case .string(let text) = node.value, let level = levels.first(where: { $0.0 == text })?.1 { return level }
        var hint = ""
        if case .string(let text) = node.value {
            hint = text == "warning" ? " (did you mean \"warn\"?)" : JSONSchemaReader.suggestion(for: text, among: levels.map(\.0))
        }
        report(node.position, "log_level", "expected one of \"debug\", \"info\", \"warn\", \"error\", got \(node.summary)\(hint)")
        return nil
    }

    private mutating func limits(_ node: JSONNode?) -> RelayConfig? {
        var config = RelayConfig()
        guard let node else { return config }
        guard let f = schema.members(node, "limits", what: "an object of limits", fields: Self.limits.map { Field(name: $0.name, required: false, expected: "") }) else {
            return nil
        }
        var ok = true
        for limit in Self.limits {
            guard let v = f[limit.name] else { continue }
            let path = "limits.\(limit.name)"
            switch limit.kind {
            case .integer(let keyPath, let range):
                if let n = schema.integer(v, path, expected: "a whole number of \(limit.unit)", range: range) { config[keyPath: keyPath] = n } else { ok = false }
            case .decimal(let keyPath, let range):
                if let d = decimal(v, path, expected: "a number of \(limit.unit)", range: range) { config[keyPath: keyPath] = d } else { ok = false }
            }
        }
        return ok ? config : nil
    }
}
