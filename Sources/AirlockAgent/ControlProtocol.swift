/// The messages of the relay's control socket (design §4): JSON bodies next to a `type`
/// (`ControlMessage`), descriptors carried with `SCM_RIGHTS`.
///
/// A caller never names a path the root relay would open: stdio, the working directory, a key
/// and a namespace travel as open descriptors, so the caller's own access rights decide.
public enum ControlProtocol {
    /// `run`: start CMD in a fresh agent namespace. Descriptors, in order: stdin, stdout, stderr,
    /// the working directory, then the key when `key` is true. The caller stays connected for the
    /// run's life; closing the connection ends the run. Replies: `started`, later `exited`; or
    /// `error`.
    public struct RunRequest: Codable, Sendable, Equatable {
        /// The policy agent to run as; nil picks the caller's only agent.
        public var agent: String?
        /// `--allow` targets (services or exits by name).
        public var allow: [String]
        /// `--forward PORT=SERVICE` values, as given.
        public var forward: [String]
        /// argv of the command.
        public var command: [String]
        /// The caller's environment; the relay adds the proxy variables.
        public var environment: [String: String]
        /// A key descriptor follows the four others.
        public var key: Bool

        public init(agent: String?, allow: [String] = [], forward: [String] = [], command: [String],
                    environment: [String: String] = [:], key: Bool = false) {
            self.agent = agent; self.allow = allow; self.forward = forward
            self.command = command; self.environment = environment; self.key = key
        }

        /// Descriptors that must come with this request.
        public var descriptorCount: Int { key ? 5 : 4 }
    }

    /// `attach`: wire an existing namespace (descriptor 0; the key as descriptor 1 when `key`)
    /// to the hub and start a shim in it. The attachment outlives the connection. Replies
    /// `attached` or `error`.
    public struct AttachRequest: Codable, Sendable, Equatable {
        public var agent: String?
        /// Where the namespace came from (`--netns NAME` or `--pid PID`), for logs.
        public var label: String
        public var key: Bool
        public init(agent: String?, label: String, key: Bool = false) {
            self.agent = agent; self.label = label; self.key = key
        }
    }

    /// `detach`: end attachment `name` (as `attached` named it). Replies `detached` or `error`.
    public struct DetachRequest: Codable, Sendable, Equatable {
        public var name: String
        public init(name: String) { self.name = name }
    }

    /// `signal`: forward a signal (SIGINT, SIGTERM or SIGHUP) to the running command.
    public struct SignalRequest: Codable, Sendable, Equatable {
        public var signal: Int32
        public init(signal: Int32) { self.signal = signal }
    }

    /// `started` / `attached`: what the relay built.
    public struct Started: Codable, Sendable, Equatable {
        /// The attachment's name (the namespace is `<prefix>-<name>` when the relay made it).
        public var name: String
        /// The policy agent.
        public var agent: String
        public var peer: String
        public var netns: String?
        public var agentAddress: String
        public var hubAddress: String
        public init(name: String, agent: String, peer: String, netns: String?, agentAddress: String, hubAddress: String) {
            self.name = name; self.agent = agent; self.peer = peer; self.netns = netns
            self.agentAddress = agentAddress; self.hubAddress = hubAddress
        }
    }

    /// `exited`: the command ended; `code` is what `run` exits with (128+N for signal N).
    public struct Exited: Codable, Sendable, Equatable {
        public var code: Int32
        public var description: String
        public init(code: Int32, description: String) { self.code = code; self.description = description }
    }

    /// `error`: the request was refused or failed; nothing of it is left running.
    public struct Failure: Codable, Sendable, Equatable {
        public var message: String
        public init(message: String) { self.message = message }
    }

    /// The default control socket path (a `root:airlock` 0750 directory).
    public static let defaultPath = "/run/airlock/control.sock"
}
