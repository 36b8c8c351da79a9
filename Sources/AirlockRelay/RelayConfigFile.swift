#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockIO
import AirlockPolicy

/// One thing wrong with a relay config file, printed like a policy problem:
/// `FILE:LINE:COL: path.to.field: what is wrong; expected …`.
public typealias RelayConfigProblem = PolicyProblem

/// Why a relay config file was refused: every problem found, in file order, at most
/// `PolicyError.maxProblems` of them and then a count of the rest.
public struct RelayConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public let problems: [RelayConfigProblem]

    public init(problems: [RelayConfigProblem]) {
        precondition(!problems.isEmpty, "a RelayConfigError needs at least one problem")
        self.problems = problems
    }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// The relay's config file (`airlock relay --config FILE`, Relay/README.md): where it listens,
/// its key and policy, the hub namespace, the control socket, logging, and every cap of
/// `RelayConfig`. A versioned JSON object read with the policy's strict parser; unknown and
/// duplicate keys are errors, and every problem is reported with its line and column.
///
/// Relative paths in the file are relative to the file's directory and are stored resolved.
/// A value made by `load` or `parse` is valid; one built with `init` (the `--listen --key
/// --policy` flags) is what the caller gave.
public struct RelayConfigFile: Sendable, Equatable {
    /// Where agents' namespaces are attached; `enabled: false` runs a relay for remote peers only.
    public struct Hub: Sendable, Equatable {
        /// Prefix of the namespaces and links the relay creates (`airlock-hub`, …).
        public var namespacePrefix: String
        public var enabled: Bool

        public init(namespacePrefix: String = RelayConfigFile.defaultNamespacePrefix, enabled: Bool = true) {
            self.namespacePrefix = namespacePrefix
            self.enabled = enabled
        }
    }

    /// The relay's built-in exit (`airlock relay --exit`; the policy's exit with `"peer": "relay"`).
    public struct Exit: Sendable, Equatable {
        public var enabled: Bool
        /// A hosts file the exit resolves from before system DNS; nil for none.
        public var hosts: String?
        /// Whether names the hosts file does not hold go to the system's resolver.
        public var systemDNS: Bool

        public init(enabled: Bool = false, hosts: String? = nil, systemDNS: Bool = true) {
            self.enabled = enabled
            self.hosts = hosts
            self.systemDNS = systemDNS
        }
    }

    /// The newest schema version this build reads; files of versions 1…`currentVersion` load.
    public static let currentVersion = 1
    /// A config is a few hundred bytes; larger files are refused before parsing.
    public static let maxFileSize = 64 * 1024
    public static let defaultControlSocket = "/run/airlock/control.sock"
    public static let defaultNamespacePrefix = "airlock"
    /// Names built from the prefix (`airlock-hub`, veth ends) must fit the kernel's 15-byte
    /// interface names with room for a suffix.
    public static let maxNamespacePrefixLength = 8
    /// A relay listens on a handful of addresses; more is a mistake.
    public static let maxListenAddresses = 16
    /// PATH_MAX (4096) less the NUL.
    public static let maxPathLength = 4095
    /// `sun_path` of `sockaddr_un` (108 bytes) less the NUL.
    public static let maxSocketPathLength = 107

    public var version: Int
    /// At least one address; no two equal or overlapping.
    public var listen: [SocketAddress]
    /// The relay's Ed25519 key file.
    public var key: String
    /// The policy file (docs/policy.md).
    public var policy: String
    public var hub: Hub
    public var exit: Exit
    public var controlSocket: String
    public var logLevel: Logger.Level
    /// Where decisions are appended as log lines besides stderr; `nil` for none.
    public var auditLog: String?
    /// Every cap and timeout; fields the file leaves out keep `RelayConfig`'s defaults.
    public var relayConfig: RelayConfig

    public init(listen: [SocketAddress], key: String, policy: String, hub: Hub = Hub(), exit: Exit = Exit(),
                controlSocket: String = RelayConfigFile.defaultControlSocket, logLevel: Logger.Level = .info,
                auditLog: String? = nil, relayConfig: RelayConfig = RelayConfig()) {
        self.version = RelayConfigFile.currentVersion
        self.listen = listen
        self.key = key
        self.policy = policy
        self.hub = hub
        self.exit = exit
        self.controlSocket = controlSocket
        self.logLevel = logLevel
        self.auditLog = auditLog
        self.relayConfig = relayConfig
    }

    // MARK: loading

    /// Reads and checks the config file at `path`. Problems name the file as given; relative
    /// paths inside it are resolved against its directory (made absolute with the working
    /// directory, so they do not depend on where the relay later changes to).
    public static func load(path: String) throws(RelayConfigError) -> RelayConfigFile {
        let bytes: [UInt8]
        switch BoundedFile.read(path: path, maxSize: maxFileSize, tooLarge: "file is larger than \(maxFileSize) bytes, the most a relay config may be") {
        case .success(let b): bytes = b
        case .failure(let failure):
            throw RelayConfigError(problems: [RelayConfigProblem(file: path, position: nil, path: "", message: failure.message)])
        }
        var absolute = path
        if !path.hasPrefix("/"), let cwd = currentDirectory() { absolute = cwd + "/" + path }
        return try parse(bytes: bytes, file: path, baseDirectory: directory(of: absolute))
    }

    /// Checks config text. `file` names it in problems; relative paths are resolved against
    /// `baseDirectory`, by default the directory part of `file` (none: left relative).
    public static func parse(text: String, file: String = "relay.json", baseDirectory: String? = nil) throws(RelayConfigError) -> RelayConfigFile {
        try parse(bytes: Array(text.utf8), file: file, baseDirectory: baseDirectory ?? directory(of: file))
    }

    static func parse(bytes: [UInt8], file: String, baseDirectory: String) throws(RelayConfigError) -> RelayConfigFile {
        guard bytes.count <= maxFileSize else {
            throw RelayConfigError(problems: [RelayConfigProblem(file: file, position: nil, path: "",
                                                                 message: "file is \(bytes.count) bytes; a relay config may be at most \(maxFileSize) bytes")])
        }
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw RelayConfigError(problems: [RelayConfigProblem(file: file, position: error.position, path: error.path, message: error.message)])
        }
        var decoder = RelayConfigDecoder(file: file, baseDirectory: baseDirectory)
        guard let config = decoder.decode(root) else { throw RelayConfigError(problems: decoder.reportedProblems) }
        return config
    }

    // MARK: paths

    /// `path` as used at run time: absolute paths unchanged, others joined to `base` (`""`: as is).
    static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") || base.isEmpty { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }

    /// Everything before the last `/` (`/` for a file at the root), or `""` without one.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
