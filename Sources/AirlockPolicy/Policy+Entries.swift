import AirlockCore

extension Policy {
    /// Names of agents, services, exits and peers: `[a-z0-9][a-z0-9-]{0,31}`, unique across all four.
    public static let maxNameLength = 32
    /// Longest `note` on any entry, in UTF-8 bytes.
    public static let maxNoteLength = 512

    /// Whether `name` is a valid entry name.
    public static func isValidName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard (1...maxNameLength).contains(u.count) else { return false }
        func ok(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        return ok(u[0]) && u.dropFirst().allSatisfy { ok($0) || $0 == UInt8(ascii: "-") }
    }

    /// How an agent proves who it is.
    public enum Identity: Hashable, Sendable, CustomStringConvertible {
        /// Each `airlock run` makes a fresh Ed25519 identity and registers it with the relay for
        /// that run only (see `Bindings`). Written `"per-run"`.
        case perRun
        /// One long-lived identity, for agents attached from elsewhere.
        case fixed(PeerID)

        public var description: String {
            switch self {
            case .perRun: return "per-run"
            case .fixed(let p): return p.description
            }
        }
    }

    /// A local AI agent: runs in its own namespace and may only be a rule's source.
    public struct Agent: Hashable, Sendable {
        public var name: String
        /// The Unix user who may run, attach and detach this agent.
        public var uid: UInt32
        public var identity: Identity
        public var limits: Limits
        public var note: String?

        public init(name: String, uid: UInt32, identity: Identity = .perRun, limits: Limits = .none, note: String? = nil) {
            self.name = name; self.uid = uid; self.identity = identity; self.limits = limits; self.note = note
        }
    }

    /// A peer that may RESERVE on the relay and that rules name as a target.
    public struct Service: Hashable, Sendable {
        public var name: String
        public var peer: PeerID
        public var note: String?

        public init(name: String, peer: PeerID, note: String? = nil) {
            self.name = name; self.peer = peer; self.note = note
        }
    }

    /// Where an exit runs.
    public enum ExitLocation: Hashable, Sendable, CustomStringConvertible {
        /// The relay's built-in exit. Written `"relay"`.
        case relay
        /// A separate exit peer, which reserves on the relay like a service.
        case peer(PeerID)

        public var description: String {
            switch self {
            case .relay: return "relay"
            case .peer(let p): return p.description
            }
        }
    }

    /// A way out to destinations outside: rules to an exit list the `host:port` patterns allowed.
    public struct Exit: Hashable, Sendable {
        public var name: String
        public var location: ExitLocation
        public var note: String?

        public init(name: String, location: ExitLocation, note: String? = nil) {
            self.name = name; self.location = location; self.note = note
        }
    }

    /// Any other libp2p peer (a remote client, an interop test peer): may be a rule's source,
    /// may not reserve and cannot be a target.
    public struct Peer: Hashable, Sendable {
        public var name: String
        public var peer: PeerID
        public var note: String?

        public init(name: String, peer: PeerID, note: String? = nil) {
            self.name = name; self.peer = peer; self.note = note
        }
    }

    /// Allows `from` (an agent, a peer or a service) to open circuits to `to` (a service or an
    /// exit). To an exit, `destinations` lists what the exit may dial for this source; to a
    /// service it is empty. At most one rule per `from` → `to` pair.
    public struct Rule: Hashable, Sendable {
        public var from: String
        public var to: String
        public var destinations: [Destination]
        public var limits: Limits
        public var note: String?

        public init(from: String, to: String, destinations: [Destination] = [], limits: Limits = .none, note: String? = nil) {
            self.from = from; self.to = to; self.destinations = destinations; self.limits = limits; self.note = note
        }
    }

    /// Any named entry, as lookups return it.
    public enum Entry: Hashable, Sendable {
        case agent(Agent)
        case service(Service)
        case exit(Exit)
        case peer(Peer)

        public var name: String {
            switch self {
            case .agent(let a): return a.name
            case .service(let s): return s.name
            case .exit(let e): return e.name
            case .peer(let p): return p.name
            }
        }

        /// `agent`, `service`, `exit` or `peer`, as in messages and logs.
        public var kind: String {
            switch self {
            case .agent: return "agent"
            case .service: return "service"
            case .exit: return "exit"
            case .peer: return "peer"
            }
        }

        /// The fixed identity, if it has one (per-run agents and the relay's exit have none).
        public var fixedPeer: PeerID? {
            switch self {
            case .agent(let a): if case .fixed(let p) = a.identity { return p } else { return nil }
            case .service(let s): return s.peer
            case .exit(let e): if case .peer(let p) = e.location { return p } else { return nil }
            case .peer(let p): return p.peer
            }
        }
    }
}
