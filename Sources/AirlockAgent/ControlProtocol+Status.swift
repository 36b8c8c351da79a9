import AirlockIO

/// The operator messages of the control socket: `reload` and `status` (docs/operations.md).
extension ControlProtocol {
    /// `reload`: re-read the policy file the relay was started with, as SIGHUP does. Only root
    /// and the owner of the policy file may ask. Replies `reloaded` or `error` (a policy that
    /// does not validate: every problem, and the last good policy stays).
    public struct ReloadRequest: Codable, Sendable, Equatable {
        public init() {}
    }

    /// `reloaded`: the new policy is in force; what it ended at once.
    public struct Reloaded: Codable, Sendable, Equatable {
        public var file: String
        public var rules: Int
        public var circuitsClosed: Int
        public var connectsRefused: Int
        public var reservationsEnded: Int
        /// Connections the relay's own exit held that the new policy does not allow.
        public var exitsClosed: Int
        public init(file: String, rules: Int, circuitsClosed: Int, connectsRefused: Int, reservationsEnded: Int, exitsClosed: Int = 0) {
            self.file = file; self.rules = rules; self.circuitsClosed = circuitsClosed; self.exitsClosed = exitsClosed
            self.connectsRefused = connectsRefused; self.reservationsEnded = reservationsEnded
        }
    }

    /// `status`: what the relay holds now. Root sees everything; any other caller (a member of
    /// group airlock) sees its own agents (policy `uid` equal to its uid), their circuits and
    /// refusals, and the reservations of the targets its agents have a rule to. Replies `status`
    /// (a `Status` body) or `error`.
    public struct StatusRequest: Codable, Sendable, Equatable {
        public init() {}
    }

    /// The `status` reply. Each list holds at most `Status.maxItems` entries (the newest
    /// refusals, the oldest circuits); the `*Total` counts say how many there were.
    public struct Status: Codable, Sendable, Equatable {
        public static let maxItems = 64

        public struct Agent: Codable, Sendable, Equatable {
            /// The attachment name, the policy agent, `run` or `attachment`, the identity.
            public var name: String
            public var agent: String
            public var kind: String
            public var uid: UInt32
            public var peer: String
            public var agentAddress: String
            public var seconds: Double
            public var circuits: Int
            public init(name: String, agent: String, kind: String, uid: UInt32, peer: String, agentAddress: String, seconds: Double, circuits: Int) {
                self.name = name; self.agent = agent; self.kind = kind; self.uid = uid; self.peer = peer
                self.agentAddress = agentAddress; self.seconds = seconds; self.circuits = circuits
            }
        }

        public struct Reservation: Codable, Sendable, Equatable {
            public var peer: String
            /// The policy entry (service or exit) holding it, if named.
            public var name: String?
            /// Unix seconds at which it expires unless refreshed.
            public var expire: UInt64
            public var expiresIn: Double
            public init(peer: String, name: String?, expire: UInt64, expiresIn: Double) {
                self.peer = peer; self.name = name; self.expire = expire; self.expiresIn = expiresIn
            }
        }

        public struct Circuit: Codable, Sendable, Equatable {
            public var source: String
            public var sourceName: String?
            public var target: String
            public var targetName: String?
            public var bytesUp: UInt64
            public var bytesDown: UInt64
            public var seconds: Double
            public init(source: String, sourceName: String?, target: String, targetName: String?, bytesUp: UInt64, bytesDown: UInt64, seconds: Double) {
                self.source = source; self.sourceName = sourceName; self.target = target; self.targetName = targetName
                self.bytesUp = bytesUp; self.bytesDown = bytesDown; self.seconds = seconds
            }
        }

        /// One connection the relay's own exit holds open for a source.
        public struct Exit: Codable, Sendable, Equatable {
            public var source: String
            public var sourceName: String?
            /// The `host:port` asked for, and the address connected to.
            public var target: String
            public var address: String
            /// Bytes source → destination (`bytesUp`) and back.
            public var bytesUp: UInt64
            public var bytesDown: UInt64
            public var seconds: Double
            public init(source: String, sourceName: String?, target: String, address: String, bytesUp: UInt64, bytesDown: UInt64, seconds: Double) {
                self.source = source; self.sourceName = sourceName; self.target = target; self.address = address
                self.bytesUp = bytesUp; self.bytesDown = bytesDown; self.seconds = seconds
            }
        }

        public struct Refusal: Codable, Sendable, Equatable {
            /// Unix seconds.
            public var time: Double
            public var kind: String
            public var source: String
            public var sourceName: String?
            public var target: String?
            public var targetName: String?
            public var status: String
            public var reason: String
            public init(time: Double, kind: String, source: String, sourceName: String?, target: String?, targetName: String?, status: String, reason: String) {
                self.time = time; self.kind = kind; self.source = source; self.sourceName = sourceName
                self.target = target; self.targetName = targetName; self.status = status; self.reason = reason
            }
        }

        /// The relay's peer ID and the policy file it reads.
        public var relay: String
        public var policy: String
        /// Unix seconds when the status was taken.
        public var time: Double
        public var agents: [Agent]
        public var reservations: [Reservation]
        public var circuits: [Circuit]
        public var refusals: [Refusal]
        /// The relay exit's open connections, oldest first (empty without `--exit`).
        public var exits: [Exit]
        public var agentsTotal: Int
        public var reservationsTotal: Int
        public var circuitsTotal: Int
        public var refusalsTotal: Int
        public var exitsTotal: Int
        /// Every relay counter by its stable name (Relay/README.md, "Counters"); root only,
        /// empty for anyone else.
        public var counters: [String: UInt64]

        public init(relay: String, policy: String, time: Double, agents: [Agent], reservations: [Reservation], circuits: [Circuit],
                    refusals: [Refusal], exits: [Exit] = [], agentsTotal: Int, reservationsTotal: Int, circuitsTotal: Int, refusalsTotal: Int,
                    exitsTotal: Int = 0, counters: [String: UInt64] = [:]) {
            self.counters = counters
            self.exits = exits; self.exitsTotal = exitsTotal
            self.relay = relay; self.policy = policy; self.time = time
            self.agents = agents; self.reservations = reservations; self.circuits = circuits; self.refusals = refusals
            self.agentsTotal = agentsTotal; self.reservationsTotal = reservationsTotal
            self.circuitsTotal = circuitsTotal; self.refusalsTotal = refusalsTotal
        }
    }
}

extension ControlProtocol.Status {
    /// The status `make` builds with at most `maxItems` entries per list, or with half as many
    /// (and so on, down to 1) until it fits one control message (`ControlSocket.maxPayload`);
    /// the `*Total` counts still give the full numbers.
    public static func fitting(_ make: (Int) -> ControlProtocol.Status) -> ControlProtocol.Status {
        var cap = maxItems
        while true {
            let status = make(cap)
            // `encode` refuses a message over the cap.
            if cap > 1 && (try? ControlMessage.encode(type: "status", body: status)) == nil { cap /= 2; continue }
            return status
        }
    }
}
