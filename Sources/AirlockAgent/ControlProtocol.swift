/// The messages of the relay's control socket (design §4): JSON bodies next to a `type`
/// (`ControlMessage`), descriptors carried with `SCM_RIGHTS`.
///
/// A caller never names a path the root relay would open: stdio, the working directory, a key
/// and a namespace travel as open descriptors, so the caller's own access rights decide.
public enum ControlProtocol {
    /// `run`: start CMD in a fresh agent namespace. Descriptors, in order: stdin, stdout, stderr,
    /// the working directory, the lifeline (one end of a SOCK_SEQPACKET pair whose other end the
    /// caller keeps: see `airlock_spawn`), then the key when `key` is true.
    ///
    /// The command's tree lives as long as the caller's end of the lifeline; signals to forward
    /// and the exit status travel over it, so the run outlives a relay restart. Replies: `started`
    /// (with the namespace and the pidfds of the command's and the shim's inits, for `reattach`),
    /// `suspended` when the relay stops, `exited` once the run is torn down; or `error`. Closing
    /// the connection ends the run.
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
        /// A key descriptor follows the five others.
        public var key: Bool
        /// `--rw PATH` and `--ro PATH` as given: after the key, one O_PATH descriptor for each,
        /// the `rw` ones first. The working directory (descriptor 3) is writable too.
        public var rw: [String]
        public var ro: [String]
        /// `--timeout`, `--memory`, `--pids`, `--cpu`, `--kill-on-deny`.
        public var limits: RunLimits
        /// stdin is a pty that `airlock run` relays (so are stdout and stderr, unless the
        /// caller had them redirected away from its terminal): it becomes the command's
        /// controlling terminal. The relay refuses the run when stdin is no terminal.
        public var terminal: Bool

        public init(agent: String?, allow: [String] = [], forward: [String] = [], command: [String],
                    environment: [String: String] = [:], key: Bool = false, rw: [String] = [], ro: [String] = [],
                    limits: RunLimits = RunLimits(), terminal: Bool = false) {
            self.agent = agent; self.allow = allow; self.forward = forward
            self.command = command; self.environment = environment; self.key = key
            self.rw = rw; self.ro = ro; self.limits = limits; self.terminal = terminal
        }

        /// Descriptors that must come with this request.
        public var descriptorCount: Int { (key ? 6 : 5) + rw.count + ro.count }
    }

    /// `reattach`: after a relay restart, give a run that is still going its link again.
    /// Descriptors: the namespace, the command's init pidfd and the shim's init pidfd, as
    /// `started` handed them out. The same checks as `run` apply (the caller owns the agent, the
    /// identity is bindable), and the agent gets its old address back so its shim finds the
    /// relay. Replies `reattached` (a `Started` body) or `error`.
    public struct ReattachRequest: Codable, Sendable, Equatable {
        public var agent: String
        /// The attachment name `started` gave.
        public var name: String
        /// The run's identity (its shim holds the key).
        public var peer: String
        public var allow: [String]
        /// The agent side of the link, as `started` gave it.
        public var agentAddress: String
        public init(agent: String, name: String, peer: String, allow: [String], agentAddress: String) {
            self.agent = agent; self.name = name; self.peer = peer; self.allow = allow; self.agentAddress = agentAddress
        }
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

    /// `suspended`: the relay is stopping; the run goes on without a link until `reattach`.
    public struct Suspended: Codable, Sendable, Equatable {
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// `exited`: the run is over and torn down; `code` is what `run` exits with (128+N for
    /// signal N) when the relay knows it (the lifeline's status wins).
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
