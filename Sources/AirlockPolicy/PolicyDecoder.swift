import AirlockCore

/// Turns a parsed JSON document into a `Policy`, or into the list of everything wrong with it.
///
/// It does not stop at the first problem: each field is checked on its own, an entry with a
/// problem is left out of the model, and names whose entries were left out are remembered so
/// that rules naming them do not produce a second, misleading problem.
struct PolicyDecoder {
    private var schema: JSONSchemaReader

    private struct Declared {
        let kind: String
        let path: String
        let position: SourcePosition
    }

    /// Every name declared in any section, valid or not, for uniqueness and rule references.
    private var declared: [String: Declared] = [:]
    /// Names whose entries had problems: rules naming them are not reported again.
    private var broken: Set<String> = []
    /// Every fixed identity seen, with where.
    private var identities: [PeerID: (path: String, position: SourcePosition)] = [:]

    init(file: String) { schema = JSONSchemaReader(file: file) }

    /// Problems in file order, capped at `PolicyError.maxProblems`.
    var reportedProblems: [PolicyProblem] { schema.reportedProblems }

    private mutating func report(_ position: SourcePosition?, _ path: String, _ message: String) {
        schema.report(position, path, message)
    }

    // MARK: the document

    mutating func decode(_ root: JSONNode) -> Policy? {
        // The version decides which fields exist, so it is read before anything else.
        var version = Policy.currentVersion
        if case .object(let members) = root.value, let v = members.first(where: { $0.key == "version" })?.value {
            if let n = schema.integer(v, "version", expected: "1", range: 0...UInt64(Int32.max)) {
                if n > UInt64(Policy.currentVersion) {
                    report(v.position, "version", "version \(n) is newer than this airlock reads (1 to \(Policy.currentVersion)); upgrade airlock or write version \(Policy.currentVersion)")
                    return nil
                }
                if n == 0 { report(v.position, "version", "expected 1, got 0") }
                version = Int(n)
            }
        }
        guard let top = schema.members(root, "", what: "a JSON object holding the policy", fields: PolicyDecoder.topFields) else { return nil }
        if top["version"] == nil { report(root.position, "", "missing \"version\"; expected \"version\": \(Policy.currentVersion) as the first field") }

        var agents: [Policy.Agent] = []
        for (name, node) in section(top["agents"], "agents", kind: "agent") {
            if let a = agent(name, node) { agents.append(a) } else { broken.insert(name) }
        }
        var services: [Policy.Service] = []
        for (name, node) in section(top["services"], "services", kind: "service") {
            let path = "services.\(name)"
            if let f = schema.members(node, path, what: "an object describing the service", fields: PolicyDecoder.serviceFields),
               let peer = identity(f["peer"], path + ".peer", allowing: nil), let note = note(f["note"], path) {
                services.append(Policy.Service(name: name, peer: peer.fixed!, note: note))
            } else { broken.insert(name) }
        }
        var exits: [Policy.Exit] = []
        var relayExit: String?
        for (name, node) in section(top["exits"], "exits", kind: "exit") {
            let path = "exits.\(name)"
            if let f = schema.members(node, path, what: "an object describing the exit", fields: PolicyDecoder.exitFields),
               let peer = identity(f["peer"], path + ".peer", allowing: "relay"), let note = note(f["note"], path) {
                if peer.fixed == nil, let first = relayExit {
                    report(f["peer"]!.position, path + ".peer", "exit \(first) is already the relay's built-in exit; only one exit may be \"relay\"")
                    broken.insert(name)
                    continue
                }
                if peer.fixed == nil { relayExit = name }
                exits.append(Policy.Exit(name: name, location: peer.fixed.map { .peer($0) } ?? .relay, note: note))
            } else { broken.insert(name) }
        }
        var peers: [Policy.Peer] = []
        for (name, node) in section(top["peers"], "peers", kind: "peer") {
            let path = "peers.\(name)"
            if let f = schema.members(node, path, what: "an object describing the peer", fields: PolicyDecoder.peerFields),
               let peer = identity(f["peer"], path + ".peer", allowing: nil), let note = note(f["note"], path) {
                peers.append(Policy.Peer(name: name, peer: peer.fixed!, note: note))
            } else { broken.insert(name) }
        }
        let rules = self.rules(top["rules"])
        guard schema.problems.isEmpty else { return nil }
        return Policy(checkedVersion: version, agents: agents, services: services, exits: exits, peers: peers, rules: rules)
    }

    private mutating func agent(_ name: String, _ node: JSONNode) -> Policy.Agent? {
        let path = "agents.\(name)"
        guard let f = schema.members(node, path, what: "an object describing the agent", fields: PolicyDecoder.agentFields) else { return nil }
        var uid: UInt64?
        if let u = f["uid"] { uid = schema.integer(u, path + ".uid", expected: "a non-negative integer uid", range: 0...4_294_967_294) }
        var id: (fixed: PeerID?, ok: Bool) = (nil, true)
        if let i = f["identity"] {
            if let parsed = identity(i, path + ".identity", allowing: "per-run") { id = (parsed.fixed, true) } else { id = (nil, false) }
        }
        let limits = self.limits(f["limits"], path + ".limits", agent: true)
        let note = self.note(f["note"], path)
        guard let uid, id.ok, let limits, let note else { return nil }
        return Policy.Agent(name: name, uid: UInt32(uid), identity: id.fixed.map { .fixed($0) } ?? .perRun, limits: limits, note: note)
    }

    // MARK: rules

    private mutating func rules(_ node: JSONNode?) -> [Policy.Rule] {
        guard let node else { return [] }
        guard case .array(let items) = node.value else {
            report(node.position, "rules", "expected an array of rules, got \(node.summary)")
            return []
        }
        var out: [Policy.Rule] = []
        var pairs: [String: (path: String, position: SourcePosition)] = [:]
        for (i, item) in items.enumerated() {
            let path = "rules[\(i)]"
            guard let f = schema.members(item, path, what: "an object describing the rule", fields: PolicyDecoder.ruleFields) else { continue }
            let from = reference(f["from"], path + ".from", kinds: ["agent", "peer", "service"], expected: "the name of an agent, a peer or a service")
            let to = reference(f["to"], path + ".to", kinds: ["service", "exit"], expected: "the name of a service or an exit")
            if let from = from.name, let to = to.name, from == to {
                report(f["to"]!.position, path + ".to", "a rule from \(from) to itself; expected the name of another service or an exit")
            }
            var destinations: [Destination] = []
            var destinationsOK = true
            if let d = f["destinations"] {
                if to.kind == "service" {
                    report(d.position, path + ".destinations", "destinations apply only to rules to an exit; remove it, service \(to.name!) takes whole connections")
                    destinationsOK = false
                } else if let parsed = self.destinations(d, path + ".destinations") {
                    destinations = parsed
                } else { destinationsOK = false }
            } else if to.kind == "exit" {
                report(item.position, path, "missing \"destinations\"; expected the host:port patterns exit \(to.name!) may dial for this rule")
                destinationsOK = false
            }
            let limits = self.limits(f["limits"], path + ".limits", agent: false)
            let note = self.note(f["note"], path)
            guard let fromName = from.name, let toName = to.name, destinationsOK, let limits, let note else { continue }
            let key = fromName + " " + toName
            if let first = pairs[key] {
                report(item.position, path, "a second rule from \(fromName) to \(toName); merge it into \(first.path) (line \(first.position.line))")
                continue
            }
            pairs[key] = (path, item.position)
            out.append(Policy.Rule(from: fromName, to: toName, destinations: destinations, limits: limits, note: note))
        }
        return out
    }

    /// A rule's `from` or `to`: a declared name of one of `kinds`. `name` is nil on any problem,
    /// `kind` is known whenever the name was declared (so `destinations` can still be checked).
    private mutating func reference(_ node: JSONNode?, _ path: String, kinds: [String], expected: String) -> (name: String?, kind: String?) {
        guard let node else { return (nil, nil) }  // reported as missing by `members`
        guard case .string(let name) = node.value else {
            report(node.position, path, "expected \(expected), got \(node.summary)")
            return (nil, nil)
        }
        guard let d = declared[name] else {
            let hint = JSONSchemaReader.suggestion(for: name, among: declared.filter { kinds.contains($0.value.kind) }.map(\.key))
            report(node.position, path, "nothing is named \(JSONWriter.quoted(name)); expected \(expected)\(hint)")
            return (nil, nil)
        }
        guard kinds.contains(d.kind) else {
            report(node.position, path, "\(JSONWriter.quoted(name)) is \(d.kind == "agent" || d.kind == "exit" ? "an" : "a") \(d.kind) (\(d.path)); expected \(expected)")
            return (nil, nil)
        }
        return (broken.contains(name) ? nil : name, d.kind)
    }

    private mutating func destinations(_ node: JSONNode, _ path: String) -> [Destination]? {
        guard case .array(let items) = node.value, !items.isEmpty else {
            report(node.position, path, "expected a non-empty array of \"host:port\" strings, got \(node.summary)")
            return nil
        }
        var out: [Destination] = []
        var seen: [Destination: Int] = [:]
        var ok = true
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard case .string(let text) = item.value else {
                report(item.position, p, "expected a \"host:port\" string, got \(item.summary)")
                ok = false
                continue
            }
            switch Destination.parse(text) {
            case .failure(let e):
                report(item.position, p, "\(e.message); got \(JSONWriter.quoted(text))")
                ok = false
            case .success(let d):
                if let first = seen[d] {
                    report(item.position, p, "\(d) repeats \(path)[\(first)]")
                    ok = false
                } else {
                    seen[d] = i
                    out.append(d)
                }
            }
        }
        return ok ? out : nil
    }

    // MARK: pieces

    /// The members of a named section (`agents`, …): checks each key is a valid, unique name.
    /// Entries with a bad or repeated name are reported and skipped.
    private mutating func section(_ node: JSONNode?, _ path: String, kind: String) -> [(String, JSONNode)] {
        guard let node else { return [] }
        guard case .object(let members) = node.value else {
            report(node.position, path, "expected an object mapping \(kind) names to \(kind)s, got \(node.summary)")
            return []
        }
        var out: [(String, JSONNode)] = []
        for m in members {
            let p = "\(path).\(m.key)"
            guard Policy.isValidName(m.key) else {
                report(m.keyPosition, p, "invalid name \(JSONWriter.quoted(m.key)); expected 1 to \(Policy.maxNameLength) characters of a-z, 0-9 and '-', not starting with '-'")
                continue
            }
            if let first = declared[m.key] {
                let which = first.kind == kind ? "" : "; names are unique across agents, services, exits and peers"
                report(m.keyPosition, p, "\(m.key) is already defined at \(first.path) (line \(first.position.line))\(which)")
                continue
            }
            declared[m.key] = Declared(kind: kind, path: p, position: m.keyPosition)
            out.append((m.key, m.value))
        }
        return out
    }

    /// A peer ID string, or `special` (`per-run`, `relay`) when allowed: `fixed` is nil for it.
    private mutating func identity(_ node: JSONNode?, _ path: String, allowing special: String?) -> (fixed: PeerID?, Void)? {
        guard let node else { return nil }  // reported as missing by `members`
        let expected = special.map { "\"\($0)\" or a peer ID (12D3KooW…, Qm… or bafz…)" } ?? "a peer ID (12D3KooW…, Qm… or bafz…)"
        guard case .string(let text) = node.value else {
            report(node.position, path, "expected \(expected), got \(node.summary)")
            return nil
        }
        if text == special { return (nil, ()) }
        let peer: PeerID
        do { peer = try PeerID(text) } catch {
            report(node.position, path, "expected \(expected), got \(JSONWriter.quoted(text)) (\(error))")
            return nil
        }
        if let first = identities[peer] {
            report(node.position, path, "peer \(peer) is already the identity of \(first.path) (line \(first.position.line)); each identity belongs to one entry")
            return nil
        }
        identities[peer] = (path, node.position)
        return (peer, ())
    }

    private mutating func limits(_ node: JSONNode?, _ path: String, agent: Bool) -> Policy.Limits? {
        guard let node else { return Policy.Limits.none }
        guard let f = schema.members(node, path, what: "an object of limits", fields: agent ? PolicyDecoder.agentLimitFields : PolicyDecoder.ruleLimitFields) else { return nil }
        var ok = true
        func read(_ key: String, _ expected: String, max: UInt64) -> UInt64? {
            guard let v = f[key] else { return nil }
            let n = schema.integer(v, "\(path).\(key)", expected: expected, range: 1...max)
            if n == nil { ok = false }
            return n
        }
        let seconds = read("circuit_seconds", "a whole number of seconds", max: UInt64(UInt32.max))
        let bytes = read("circuit_bytes", "a whole number of bytes", max: UInt64.max)
        let circuits = read("max_circuits", "a whole number of circuits", max: UInt64(UInt32.max))
        let denials = read("kill_after_denials", "a whole number of denials", max: UInt64(UInt32.max))
        guard ok else { return nil }
        return Policy.Limits(circuitSeconds: seconds.map { UInt32($0) }, circuitBytes: bytes,
                             maxCircuits: circuits.map { UInt32($0) }, killAfterDenials: denials.map { UInt32($0) })
    }

    /// `.some(nil)` when absent, `.some(text)` when valid, `nil` (reported) when not.
    private mutating func note(_ node: JSONNode?, _ path: String) -> String?? {
        guard let node else { return .some(nil) }
        guard case .string(let text) = node.value, text.utf8.count <= Policy.maxNoteLength else {
            report(node.position, path + ".note", "expected a string of at most \(Policy.maxNoteLength) bytes, got \(node.summary)")
            return nil
        }
        return .some(text)
    }

    // MARK: schema

    typealias Field = JSONSchemaReader.Field

    private static let note = Field(name: "note", required: false, expected: "a string")
    static let topFields = [Field(name: "version", required: false, expected: "1"),
                            Field(name: "agents", required: false, expected: "an object"),
                            Field(name: "services", required: false, expected: "an object"),
                            Field(name: "exits", required: false, expected: "an object"),
                            Field(name: "peers", required: false, expected: "an object"),
                            Field(name: "rules", required: false, expected: "an array")]
    static let agentFields = [Field(name: "uid", required: true, expected: "the uid of the Unix user who may run this agent"),
                              Field(name: "identity", required: false, expected: "\"per-run\" or a peer ID"),
                              Field(name: "limits", required: false, expected: "an object"), note]
    static let serviceFields = [Field(name: "peer", required: true, expected: "the service's peer ID"), note]
    static let exitFields = [Field(name: "peer", required: true, expected: "\"relay\" or the exit's peer ID"), note]
    static let peerFields = [Field(name: "peer", required: true, expected: "the peer's ID"), note]
    static let ruleFields = [Field(name: "from", required: true, expected: "the name of an agent, a peer or a service"),
                             Field(name: "to", required: true, expected: "the name of a service or an exit"),
                             Field(name: "destinations", required: false, expected: "an array of \"host:port\" strings"),
                             Field(name: "limits", required: false, expected: "an object"), note]
    static let ruleLimitFields = [Field(name: "circuit_seconds", required: false, expected: ""),
                                  Field(name: "circuit_bytes", required: false, expected: ""),
                                  Field(name: "max_circuits", required: false, expected: "")]
    static let agentLimitFields = ruleLimitFields + [Field(name: "kill_after_denials", required: false, expected: "")]
}
