import AirlockCore

/// The relay's allowlist: agents, services, exits, other peers, and the rules between them
/// (docs/policy.md). Deny by default: nothing is allowed that a rule does not name.
///
/// A `Policy` value is always valid: the only ways to make one are `load`, `parse` and
/// `validated`, which refuse a file with any problem and list them all. It is immutable and
/// `Sendable`, so the relay swaps the whole value on reload (design §2 invariant 7).
public struct Policy: Sendable, Equatable {
    /// The newest schema version this build reads. Files of versions 1…`currentVersion` load.
    public static let currentVersion = 1
    /// Larger files are refused before parsing.
    public static let maxFileSize = 1 << 20

    public let version: Int
    /// Sorted by name, as are `services`, `exits` and `peers`.
    public let agents: [Agent]
    public let services: [Service]
    public let exits: [Exit]
    public let peers: [Peer]
    /// In file order.
    public let rules: [Rule]

    private let entriesByName: [String: Entry]
    private let entriesByPeer: [PeerID: Entry]
    /// from → to → index in `rules`.
    private let ruleIndex: [String: [String: Int]]

    /// Builds the indexes; the caller (`PolicyDecoder`) has checked every invariant.
    init(checkedVersion version: Int, agents: [Agent], services: [Service], exits: [Exit], peers: [Peer], rules: [Rule]) {
        self.version = version
        self.agents = agents.sorted { $0.name < $1.name }
        self.services = services.sorted { $0.name < $1.name }
        self.exits = exits.sorted { $0.name < $1.name }
        self.peers = peers.sorted { $0.name < $1.name }
        self.rules = rules
        var byName: [String: Entry] = [:]
        for a in agents { byName[a.name] = .agent(a) }
        for s in services { byName[s.name] = .service(s) }
        for e in exits { byName[e.name] = .exit(e) }
        for p in peers { byName[p.name] = .peer(p) }
        var byPeer: [PeerID: Entry] = [:]
        for entry in byName.values {
            if let p = entry.fixedPeer { byPeer[p] = entry }
        }
        var index: [String: [String: Int]] = [:]
        for (i, r) in rules.enumerated() { index[r.from, default: [:]][r.to] = i }
        entriesByName = byName
        entriesByPeer = byPeer
        ruleIndex = index
    }

    public static func == (a: Policy, b: Policy) -> Bool {
        a.version == b.version && a.agents == b.agents && a.services == b.services && a.exits == b.exits
            && a.peers == b.peers && a.rules == b.rules
    }

    // MARK: loading

    /// Reads and validates the policy file at `path`. Problems name the file as given.
    public static func load(path: String) throws(PolicyError) -> Policy {
        let bytes: [UInt8]
        switch BoundedFile.read(path: path, maxSize: maxFileSize, tooLarge: "file is larger than \(maxFileSize) bytes, the most a policy may be") {
        case .success(let b): bytes = b
        case .failure(let failure):
            throw PolicyError(problems: [PolicyProblem(file: path, position: nil, path: "", message: failure.message)])
        }
        return try parse(bytes: bytes, file: path)
    }

    /// Validates policy text; `file` only names it in problems.
    public static func parse(text: String, file: String = "policy.json") throws(PolicyError) -> Policy {
        try parse(bytes: Array(text.utf8), file: file)
    }

    /// Validates policy bytes (UTF-8 JSON); `file` only names it in problems.
    public static func parse(bytes: [UInt8], file: String = "policy.json") throws(PolicyError) -> Policy {
        guard bytes.count <= maxFileSize else {
            throw PolicyError(problems: [PolicyProblem(file: file, position: nil, path: "",
                                                       message: "file is \(bytes.count) bytes; a policy may be at most \(maxFileSize) bytes")])
        }
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw PolicyError(problems: [PolicyProblem(file: file, position: error.position, path: error.path, message: error.message)])
        }
        var decoder = PolicyDecoder(file: file)
        guard let policy = decoder.decode(root) else { throw PolicyError(problems: decoder.reportedProblems) }
        return policy
    }

    /// Checks an edited policy the same way a file is checked (by writing and reading it back),
    /// for commands such as `airlock allow` that change a loaded policy.
    public static func validated(version: Int = currentVersion, agents: [Agent] = [], services: [Service] = [], exits: [Exit] = [],
                                 peers: [Peer] = [], rules: [Rule] = [], file: String = "<edited policy>") throws(PolicyError) -> Policy {
        let draft = Policy(checkedVersion: version, agents: agents, services: services, exits: exits, peers: peers, rules: rules)
        return try parse(text: draft.canonicalJSON(), file: file)
    }

    // MARK: lookups

    /// The entry called `name`, of any kind.
    public func entry(named name: String) -> Entry? { entriesByName[name] }

    /// The entry `peer` is: a fixed identity listed in the policy, or a per-run agent identity
    /// registered in `bindings` (honoured only while that agent exists and is per-run).
    public func entry(for peer: PeerID, bindings: Bindings = Bindings()) -> Entry? {
        if let e = entriesByPeer[peer] { return e }
        if let name = bindings[peer], let a = agent(named: name), a.identity == .perRun { return .agent(a) }
        return nil
    }

    public func agent(named name: String) -> Agent? {
        if case .agent(let a)? = entriesByName[name] { return a } else { return nil }
    }

    /// The agent `peer` is, by fixed identity or by a per-run binding.
    public func agent(for peer: PeerID, bindings: Bindings = Bindings()) -> Agent? {
        if case .agent(let a)? = entry(for: peer, bindings: bindings) { return a } else { return nil }
    }

    public func service(named name: String) -> Service? {
        if case .service(let s)? = entriesByName[name] { return s } else { return nil }
    }

    public func service(for peer: PeerID) -> Service? {
        if case .service(let s)? = entriesByPeer[peer] { return s } else { return nil }
    }

    public func exit(named name: String) -> Exit? {
        if case .exit(let e)? = entriesByName[name] { return e } else { return nil }
    }

    public func exit(for peer: PeerID) -> Exit? {
        if case .exit(let e)? = entriesByPeer[peer] { return e } else { return nil }
    }

    /// The relay's built-in exit, if the policy declares one.
    public var relayExit: Exit? { exits.first { $0.location == .relay } }

    public func peer(named name: String) -> Peer? {
        if case .peer(let p)? = entriesByName[name] { return p } else { return nil }
    }

    /// The rule from `from` to `to` (entry names), if there is one.
    public func rule(from: String, to: String) -> Rule? { ruleIndex[from]?[to].map { rules[$0] } }

    /// Every rule whose source is `name`, in file order.
    public func rules(from name: String) -> [Rule] { rules.filter { $0.from == name } }

    /// The rules that let agent `agent` reach exits (each with its destinations), in file order.
    public func exitRules(for agent: String) -> [Rule] {
        rules.filter { $0.from == agent && exit(named: $0.to) != nil }
    }
}
