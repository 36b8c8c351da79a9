#if canImport(Glibc)
import Glibc
#endif
import Testing
import AirlockCore
import AirlockIO
@testable import AirlockRelay

@Suite struct RelayConfigFileTests {
    /// Every problem of `text` (named `r.json`), one string each.
    func problems(_ text: String, file: String = "r.json") -> [String] {
        do {
            _ = try RelayConfigFile.parse(text: text, file: file)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    /// A valid config around `fields` (each line indented two spaces, after `version` and the
    /// required fields), so a test can write only what it checks. The extra fields start on line 6.
    func config(_ fields: String) -> String {
        """
        {
          "version": 1,
          "listen": ["127.0.0.1:4001"],
          "key": "/k",
          "policy": "/p"\(fields.isEmpty ? "" : ",\n" + fields)
        }
        """
    }

    static let relayDirectory: String = {
        // Tests/AirlockRelayTests/RelayConfigFileTests.swift → the package root's Relay/.
        var path = "\(#filePath)"
        for _ in 0..<3 { path = RelayConfigFile.directory(of: path) }
        return path + "/Relay"
    }()

    // MARK: valid files

    @Test func fullConfigRoundTripsIntoRelayConfig() throws {
        let text = """
        {
          "version": 1,
          "listen": ["127.0.0.1:4001", "[::1]:4001", "0.0.0.0:4002", "[2001:DB8::7]:4003"],
          "key": "/etc/airlock/relay.key",
          "policy": "/etc/airlock/policy.json",
          "hub": { "namespace_prefix": "altest", "enabled": false },
          "control_socket": "/run/al/c.sock",
          "log_level": "debug",
          "audit_log": "/var/log/airlock/audit.log",
          "limits": {
            "reservation_ttl_seconds": 600,
            "max_reservations": 10,
            "max_reservations_per_ip": 2,
            "reserve_burst": 3,
            "reserve_refill_per_second": 0.25,
            "max_circuits": 100,
            "max_circuits_per_peer": 7,
            "max_hop_in_flight_per_connection": 4,
            "max_connections": 500,
            "max_handshaking_connections": 50,
            "handshake_timeout_seconds": 2.5,
            "message_timeout_seconds": 3,
            "stop_answer_timeout_seconds": 4,
            "max_streams_per_connection": 99
          }
        }
        """
        let c = try RelayConfigFile.parse(text: text, file: "relay.json")
        #expect(c.version == 1)
        #expect(c.listen.map(\.description) == ["127.0.0.1:4001", "[::1]:4001", "0.0.0.0:4002", "[2001:db8::7]:4003"])
        #expect(c.key == "/etc/airlock/relay.key")
        #expect(c.policy == "/etc/airlock/policy.json")
        #expect(c.hub == RelayConfigFile.Hub(namespacePrefix: "altest", enabled: false))
        #expect(c.controlSocket == "/run/al/c.sock")
        #expect(c.logLevel == .debug)
        #expect(c.auditLog == "/var/log/airlock/audit.log")
        var expected = RelayConfig()
        expected.reservationTTL = 600
        expected.maxReservations = 10
        expected.maxReservationsPerIP = 2
        expected.reserveBurst = 3
        expected.reserveRefillPerSecond = 0.25
        expected.maxCircuits = 100
        expected.maxCircuitsPerPeer = 7
        expected.maxHopInFlightPerConnection = 4
        expected.maxConnections = 500
        expected.maxHandshakingConnections = 50
        expected.handshakeTimeout = 2.5
        expected.messageTimeout = 3
        expected.stopAnswerTimeout = 4
        expected.maxStreamsPerConnection = 99
        #expect(c.relayConfig == expected)
        // Every limit of the schema was set away from its default: none is silently ignored.
        #expect(RelayConfigDecoder.limits.count == 14)
    }

    @Test func leftOutFieldsTakeTheirDefaults() throws {
        let c = try RelayConfigFile.parse(text: config("  \"limits\": {}"))
        #expect(c.relayConfig == RelayConfig())
        #expect(c.hub == RelayConfigFile.Hub(namespacePrefix: "airlock", enabled: true))
        #expect(c.controlSocket == "/run/airlock/control.sock")
        #expect(c.logLevel == .info)
        #expect(c.auditLog == nil)
        let nullAudit = try RelayConfigFile.parse(text: config("  \"audit_log\": null, \"hub\": {}"))
        #expect(nullAudit.auditLog == nil)
        #expect(nullAudit.hub.enabled)
    }

    @Test func eachLimitAcceptsItsBounds() throws {
        for limit in RelayConfigDecoder.limits {
            let bounds: [String]
            switch limit.kind {
            case .integer(_, let r): bounds = [String(r.lowerBound), String(r.upperBound)]
            case .decimal(_, let r): bounds = [RelayConfigDecoder.format(r.lowerBound), RelayConfigDecoder.format(r.upperBound)]
            }
            for b in bounds {
                #expect(problems(config("  \"limits\": { \"\(limit.name)\": \(b) }")) == [], "\(limit.name) = \(b)")
            }
        }
    }

    // MARK: the shipped kit

    @Test func exampleFileParsesWithTheDefaults() throws {
        let c = try RelayConfigFile.load(path: Self.relayDirectory + "/relay.example.json")
        #expect(c.listen == [SocketAddress.loopbackV4(port: 4001), SocketAddress.loopbackV6(port: 4001)])
        #expect(c.key == Self.relayDirectory + "/relay.key")
        #expect(c.policy == Self.relayDirectory + "/policy.json")
        #expect(c.hub == RelayConfigFile.Hub())
        #expect(c.controlSocket == RelayConfigFile.defaultControlSocket)
        #expect(c.logLevel == .info)
        #expect(c.auditLog == nil)
        #expect(c.exit == RelayConfigFile.Exit())
        // The example writes every limit out with its default: it must agree with RelayConfig.
        #expect(c.relayConfig == RelayConfig())
        let text = try #require(Self.read(Self.relayDirectory + "/relay.example.json"))
        for limit in RelayConfigDecoder.limits { #expect(text.contains("\"\(limit.name)\":"), "\(limit.name) missing from the example") }
    }

    @Test func readmeTableListsEveryLimitWithItsDefault() throws {
        let readme = try #require(Self.read(Self.relayDirectory + "/README.md"))
        let defaults = RelayConfig()
        for limit in RelayConfigDecoder.limits {
            let value: String
            let range: String
            switch limit.kind {
            case .integer(let k, let r): value = String(defaults[keyPath: k]); range = "\(r.lowerBound) … \(r.upperBound)"
            case .decimal(let k, let r):
                value = RelayConfigDecoder.format(defaults[keyPath: k])
                range = "\(RelayConfigDecoder.format(r.lowerBound)) … \(RelayConfigDecoder.format(r.upperBound))"
            }
            let row = readme.split(separator: "\n").first { $0.hasPrefix("| `\(limit.name)` |") }
            let cells = row.map { $0.split(separator: "|").map { String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) } } ?? []
            #expect(cells.count >= 3 && cells[1] == value && cells[2] == range,
                    "README row for \(limit.name): expected default \(value), range \(range); got \(cells)")
        }
    }

    @Test func readmeErrorExamplesAreWhatTheExampleWithMistakesGives() throws {
        let readme = try #require(Self.read(Self.relayDirectory + "/README.md"))
        let section = try #require(readme.split(separator: "### Config errors\n").last)
        let block = try #require(section.split(separator: "```\n").dropFirst().first)
        let documented = block.split(separator: "\n").map(String.init)
        var text = try #require(Self.read(Self.relayDirectory + "/relay.example.json"))
        // Blank the policy line rather than delete it, so the other lines keep their numbers.
        text = text.replacing("  \"policy\": \"policy.json\",", with: "")
            .replacing("\"127.0.0.1:4001\"", with: "\"localhost:4001\"")
            .replacing("\"enabled\": true", with: "\"enable\": true")
            .replacing("\"max_circuits\": 16384", with: "\"max_circuits\": 0")
        #expect(problems(text, file: "/etc/airlock/relay.json") == documented)
    }

    // MARK: paths

    @Test func relativePathsAreResolvedAgainstTheConfigDirectory() throws {
        let text = """
        {
          "version": 1, "listen": ["127.0.0.1:1"],
          "key": "relay.key", "policy": "../shared/policy.json",
          "control_socket": "run/c.sock", "audit_log": "/var/log/audit.log"
        }
        """
        let c = try RelayConfigFile.parse(text: text, file: "/etc/airlock/relay.json")
        #expect(c.key == "/etc/airlock/relay.key")
        #expect(c.policy == "/etc/airlock/../shared/policy.json")
        #expect(c.controlSocket == "/etc/airlock/run/c.sock")
        #expect(c.auditLog == "/var/log/audit.log")
        let atRoot = try RelayConfigFile.parse(text: text, file: "/relay.json")
        #expect(atRoot.key == "/relay.key")
        let bare = try RelayConfigFile.parse(text: text, file: "relay.json")
        #expect(bare.key == "relay.key")
        let given = try RelayConfigFile.parse(text: text, file: "x.json", baseDirectory: "/srv/")
        #expect(given.key == "/srv/relay.key")
    }

    @Test func loadResolvesARelativeFileAgainstTheWorkingDirectory() throws {
        // No chdir (tests run in parallel): reach the file by a relative path from wherever we are.
        let dir = try #require(Self.temporaryDirectory())
        defer { _ = rmdir(dir) }
        let path = dir + "/relay.json"
        try #require(Self.write(config("").replacing("\"/k\"", with: "\"k\""), to: path))
        defer { _ = unlink(path) }
        var buffer = [CChar](repeating: 0, count: 4097)
        try #require(getcwd(&buffer, buffer.count) != nil)
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let up = String(repeating: "../", count: cwd.split(separator: "/").count)
        let relative = up + dir.dropFirst() + "/relay.json"
        let c = try RelayConfigFile.load(path: relative)
        #expect(c.key == cwd + "/" + up + dir.dropFirst() + "/k")
        #expect(c.policy == "/p")
    }

    @Test func pathMistakes() {
        let text = config("""
          "control_socket": "/\(String(repeating: "s", count: 107))",
          "audit_log": "~/audit.log",
          "hub": { "namespace_prefix": "Airlock-Hub-1" }
        """).replacing("\"/k\"", with: "\"\"").replacing("\"/p\"", with: "\"a\\u0000b\"")
        #expect(problems(text) == [
            "r.json:4:10: key: expected the path of the relay's key file, got \"\"",
            "r.json:5:13: policy: a path cannot contain a NUL character; expected the path of the policy file",
            "r.json:6:21: control_socket: path is 108 bytes; expected at most 107",
            "r.json:7:16: audit_log: '~' is not expanded; write the full path (relative paths are relative to the config file's directory)",
            "r.json:8:32: hub.namespace_prefix: expected 1 to 8 characters of a-z and 0-9, starting with a letter (no '-': the relay sweeps <prefix>-*), got \"Airlock-Hub-1\"",
        ])
        let relative = config("  \"control_socket\": \"\(String(repeating: "s", count: 100))\"")
        #expect(problems(relative, file: "/etc/airlock/r.json") == [
            "/etc/airlock/r.json:6:21: control_socket: path is 113 bytes once resolved to \"/etc/airlock/\(String(repeating: "s", count: 100))\"; expected at most 107",
        ])
    }

    // MARK: mistakes

    @Test func syntaxErrorIsReportedAloneWithItsPath() {
        #expect(problems("{\n  \"hub\": { \"enabled\": true, }\n}") == ["r.json:2:29: hub: a trailing comma before '}' is not allowed"])
        #expect(problems("") == ["r.json:1:1: expected a value, got end of file"])
    }

    @Test func unknownAndDuplicateKeys() {
        let text = config("""
          "limits": { "max_circuit": 5, "max_circuits": 6, "max_circuits": 7 },
          "hub": { "enable": true },
          "key": "/again",
          "listen_on": []
        """)
        let limitNames = RelayConfigDecoder.limits.map(\.name).joined(separator: ", ")
        #expect(problems(text) == [
            "r.json:6:15: limits.max_circuit: unknown field (did you mean \"max_circuits\"?); expected one of: \(limitNames)",
            "r.json:6:52: limits.max_circuits: duplicate key; \"max_circuits\" is already given at 6:33",
            "r.json:7:12: hub.enable: unknown field (did you mean \"enabled\"?); expected one of: namespace_prefix, enabled",
            "r.json:8:3: key: duplicate key; \"key\" is already given at 4:3",
            "r.json:9:3: listen_on: unknown field; expected one of: version, listen, key, policy, hub, exit, control_socket, log_level, audit_log, limits",
        ])
    }

    @Test func missingFieldsPointAtTheObject() {
        #expect(problems("{\n  \"log_level\": \"info\"\n}") == [
            "r.json:1:1: missing \"listen\"; expected an array of \"host:port\" strings such as \"127.0.0.1:4001\"",
            "r.json:1:1: missing \"key\"; expected the path of the relay's key file",
            "r.json:1:1: missing \"policy\"; expected the path of the policy file",
            "r.json:1:1: missing \"version\"; expected \"version\": 1 as the first field",
        ])
        #expect(problems("[1]") == ["r.json:1:1: expected a JSON object holding the relay's configuration, got an array"])
    }

    @Test func versionMistakes() {
        #expect(problems("{ \"version\": 2, \"bogus\": 1 }") == [
            "r.json:1:14: version: version 2 is newer than this airlock reads (1 to 1); upgrade airlock or write version 1",
        ])
        #expect(problems(config("").replacing("\"version\": 1", with: "\"version\": 0")) == ["r.json:2:14: version: expected 1, got 0"])
        #expect(problems(config("").replacing("\"version\": 1", with: "\"version\": \"1\"")) == ["r.json:2:14: version: expected 1, got \"1\""])
    }

    @Test func wrongTypes() {
        let text = config("""
          "hub": { "enabled": "yes", "namespace_prefix": 7 },
          "log_level": "warning",
          "audit_log": false,
          "limits": []
        """).replacing("[\"127.0.0.1:4001\"]", with: "\"127.0.0.1:4001\"")
        #expect(problems(text) == [
            "r.json:3:13: listen: expected a non-empty array of \"host:port\" strings such as \"127.0.0.1:4001\" or \"[::1]:4001\", got \"127.0.0.1:4001\"",
            "r.json:6:23: hub.enabled: expected true or false, got \"yes\"",
            "r.json:6:50: hub.namespace_prefix: expected 1 to 8 characters of a-z and 0-9, starting with a letter (no '-': the relay sweeps <prefix>-*), got 7",
            "r.json:7:16: log_level: expected one of \"debug\", \"info\", \"warn\", \"error\", got \"warning\" (did you mean \"warn\"?)",
            "r.json:8:16: audit_log: expected the path of the audit log or null, got false",
            "r.json:9:13: limits: expected an object of limits, got an array",
        ])
        #expect(problems(config("  \"log_level\": \"inf\"")) == [
            "r.json:6:16: log_level: expected one of \"debug\", \"info\", \"warn\", \"error\", got \"inf\" (did you mean \"info\"?)",
        ])
    }

    @Test func theExitSection() throws {
        #expect(try RelayConfigFile.parse(text: config("")).exit == RelayConfigFile.Exit())
        let on = try RelayConfigFile.parse(text: config("  \"exit\": { \"enabled\": true, \"hosts\": \"exit.hosts\", \"system_dns\": false }"),
                                           file: "/etc/airlock/relay.json")
        #expect(on.exit == RelayConfigFile.Exit(enabled: true, hosts: "/etc/airlock/exit.hosts", systemDNS: false))
        #expect(try RelayConfigFile.parse(text: config("  \"exit\": { \"hosts\": null }")).exit.hosts == nil)
        #expect(problems(config("  \"exit\": { \"enabled\": 1, \"system_dns\": \"no\", \"hosts\": 3, \"dns\": true }")) == [
            "r.json:6:24: exit.enabled: expected true or false, got 1",
            "r.json:6:41: exit.system_dns: expected true or false, got \"no\"",
            "r.json:6:56: exit.hosts: expected the path of a hosts file or null, got 3",
            "r.json:6:59: exit.dns: unknown field; expected one of: enabled, hosts, system_dns",
        ])
    }

    @Test func limitValuesOutOfRange() {
        let text = config("""
          "limits": {
            "max_circuits": 0,
            "max_connections": 2000000,
            "reserve_burst": 1.5,
            "max_reservations": -1,
            "handshake_timeout_seconds": 0.05,
            "message_timeout_seconds": 1e1,
            "stop_answer_timeout_seconds": "10",
            "reserve_refill_per_second": 99999999999999999999999999999999999,
            "max_streams_per_connection": 99999999999999999999
          }
        """)
        #expect(problems(text) == [
            "r.json:7:21: limits.max_circuits: 0 is out of range; expected a whole number of circuits from 1 to 1048576",
            "r.json:8:24: limits.max_connections: 2000000 is out of range; expected a whole number of connections from 1 to 1048576",
            "r.json:9:22: limits.reserve_burst: expected a whole number of requests, got 1.5",
            "r.json:10:25: limits.max_reservations: expected a whole number of reservations, got -1",
            "r.json:11:34: limits.handshake_timeout_seconds: 0.05 is out of range; expected a number of seconds from 0.1 to 300",
            "r.json:12:32: limits.message_timeout_seconds: expected a number of seconds from 0.1 to 300, got 1e1",
            "r.json:13:36: limits.stop_answer_timeout_seconds: expected a number of seconds from 0.1 to 300, got \"10\"",
            "r.json:14:34: limits.reserve_refill_per_second: expected a number of requests per second from 0.001 to 1000, got 99999999999999999999999999999999999",
            "r.json:15:35: limits.max_streams_per_connection: 99999999999999999999 is out of range; expected a whole number of streams from 1 to 65536",
        ])
    }

    @Test(arguments: [
        ("127.0.0.1", "missing port; expected host:port as in 127.0.0.1:4001 or [::1]:4001"),
        ("[::1]", "missing port; expected host:port as in 127.0.0.1:4001 or [::1]:4001"),
        ("127.0.0.1:0", "the port must be a number from 1 to 65535"),
        ("127.0.0.1:65536", "the port must be a number from 1 to 65535"),
        ("127.0.0.1:+80", "the port must be a number from 1 to 65535"),
        ("127.0.0.1:", "the port must be a number from 1 to 65535"),
        (":4001", "missing address before the port; write 0.0.0.0:4001 or [::]:4001 for every address"),
        ("localhost:4001", "host names are not resolved; write an IP address as in 127.0.0.1:4001 or [::1]:4001"),
        ("::1:4001", "an IPv6 address goes in brackets, as in [::1]:4001"),
        ("[127.0.0.1]:4001", "invalid IPv6 address; expected host:port as in 127.0.0.1:4001 or [::1]:4001"),
        ("[::ffff:10.0.0.1]:4001", "IPv4-mapped IPv6 address; write the IPv4 address"),
        ("127.1:4001", "invalid IPv4 address; expected four decimal parts without leading zeros as in 127.0.0.1:4001 or [::1]:4001"),
        ("010.0.0.1:4001", "invalid IPv4 address; expected four decimal parts without leading zeros as in 127.0.0.1:4001 or [::1]:4001"),
        ("[fe80::1%eth0]:4001", "invalid IPv6 address; expected host:port as in 127.0.0.1:4001 or [::1]:4001"),
    ])
    func listenAddressMistakes(text: String, message: String) {
        let c = config("").replacing("[\"127.0.0.1:4001\"]", with: "[\"\(text)\"]")
        #expect(problems(c) == ["r.json:3:14: listen[0]: \(message); got \"\(text)\""])
    }

    @Test func listenAddressesMustNotCollide() {
        let text = config("").replacing(
            "[\"127.0.0.1:4001\"]",
            with: "[\"127.0.0.1:4001\", \"127.0.0.1:4001\", \"0.0.0.0:4001\", \"[::]:4001\", \"[::1]:4001\", 5, \"127.0.0.1:4002\"]")
        #expect(problems(text) == [
            "r.json:3:32: listen[1]: 127.0.0.1:4001 repeats listen[0] 127.0.0.1:4001",
            "r.json:3:50: listen[2]: 0.0.0.0:4001 overlaps (a wildcard address takes every address of its family on that port) listen[0] 127.0.0.1:4001",
            "r.json:3:79: listen[4]: [::1]:4001 overlaps (a wildcard address takes every address of its family on that port) listen[3] [::]:4001",
            "r.json:3:93: listen[5]: expected a \"host:port\" string, got 5",
        ])
        #expect(problems(config("").replacing("[\"127.0.0.1:4001\"]", with: "[]")) == [
            "r.json:3:13: listen: expected a non-empty array of \"host:port\" strings such as \"127.0.0.1:4001\" or \"[::1]:4001\", got []",
        ])
        let many = (1...17).map { "\"127.0.0.1:\($0)\"" }.joined(separator: ", ")
        #expect(problems(config("").replacing("[\"127.0.0.1:4001\"]", with: "[\(many)]")) == [
            "r.json:3:13: listen: 17 addresses; expected at most 16",
        ])
    }

    @Test func everyProblemAtOnceInFileOrder() {
        let text = """
        {
          "limits": { "max_circuits": 0 },
          "version": 1,
          "listen": ["localhost:1"],
          "log_level": "loud",
          "key": 5,
          "hub": { "enabled": 1 },
          "policy": "/p",
          "colour": "blue"
        }
        """
        #expect(problems(text) == [
            "r.json:2:31: limits.max_circuits: 0 is out of range; expected a whole number of circuits from 1 to 1048576",
            "r.json:4:14: listen[0]: host names are not resolved; write an IP address as in 127.0.0.1:4001 or [::1]:4001; got \"localhost:1\"",
            "r.json:5:16: log_level: expected one of \"debug\", \"info\", \"warn\", \"error\", got \"loud\"",
            "r.json:6:10: key: expected the path of the relay's key file, got 5",
            "r.json:7:23: hub.enabled: expected true or false, got 1",
            "r.json:9:3: colour: unknown field; expected one of: version, listen, key, policy, hub, exit, control_socket, log_level, audit_log, limits",
        ])
    }

    @Test func problemsAreCapped() {
        let junk = (0..<150).map { "  \"x\($0)\": 0" }.joined(separator: ",\n")
        let found = problems(config(junk))
        #expect(found.count == 101)
        #expect(found.last == "r.json: 50 more problems not shown")
    }

    // MARK: whole-file problems

    @Test func unreadableAndOversizeFiles() throws {
        #expect(throws: RelayConfigError.self) { try RelayConfigFile.load(path: "/nonexistent/relay.json") }
        do {
            _ = try RelayConfigFile.load(path: "/nonexistent/relay.json")
        } catch {
            #expect(error.description == "/nonexistent/relay.json: cannot open: No such file or directory")
        }
        let big = config("  \"audit_log\": \"/\(String(repeating: "a", count: RelayConfigFile.maxFileSize))\"")
        #expect(problems(big) == ["r.json: file is \(big.utf8.count) bytes; a relay config may be at most 65536 bytes"])
        let dir = try #require(Self.temporaryDirectory())
        defer { _ = rmdir(dir) }
        let path = dir + "/big.json"
        try #require(Self.write(big, to: path))
        defer { _ = unlink(path) }
        do {
            _ = try RelayConfigFile.load(path: path)
            Issue.record("an oversize file loaded")
        } catch {
            #expect(error.description == "\(path): file is larger than 65536 bytes, the most a relay config may be")
        }
        do {
            _ = try RelayConfigFile.load(path: dir)
            Issue.record("a directory loaded")
        } catch {
            #expect(error.description == "\(dir): cannot read: Is a directory")
        }
    }

    // MARK: helpers

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return n == 0 ? String(decoding: out, as: UTF8.self) : nil }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }

    static func temporaryDirectory() -> String? {
        var template = Array("/tmp/airlock-relayconfig-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { return nil }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
