import AirlockCore

/// Turns a parsed JSON document into a `Policy`, or into the list of everything wrong with it.
///
/// It does not stop at the first problem: each field is checked on its own, an entry with a
/// problem is left out of the model, and names whose entries were left out are remembered so
/// that rules naming them do not produce a second, misleading problem.
///
/// Public only for `suggestion(for:among:)`, which other strict readers share for their hints.
public struct PolicyDecoder {
    let file: String
    private var problems: [PolicyProblem] = []

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

    init(file: String) { self.file = file }

    /// Problems in file order, capped at `PolicyError.maxProblems`.
    var reportedProblems: [PolicyProblem] {
        let sorted = problems.enumerated().sorted {
            let a = $0.element.position ?? SourcePosition(line: 0, column: 0)
            let b = $1.element.position ?? SourcePosition(line: 0, column: 0)
            return a != b ? a < b : $0.offset < $1.offset
        }.map(\.element)
        guard sorted.count > PolicyError.maxProblems else { return sorted }
        return Array(sorted.prefix(PolicyError.maxProblems))
            + [PolicyProblem(file: file, position: nil, path: "", message: "\(sorted.count - PolicyError.maxProblems) more problems not shown")]
    }

    private mutating func report(_ position: SourcePosition?, _ path: String, _ message: String) {
        problems.append(PolicyProblem(file: file, position: position, path: path, message: message))
    }

    // MARK: the document

    mutating func decode(_ root: JSONNode) -> Policy? {
        // The version decides which fields exist, so it is read before anything else.
        var version = Policy.currentVersion
        if case .object(let members) = root.value, let v = members.first(where: { $0.key == "version" })?.value {
            if let n = integer(v, "version", expected: "1", range: 0...UInt64(Int32.max)) {
                if n > UInt64(Policy.currentVersion) {
                    report(v.position, "version", "version \(n) is newer than this airlock reads (1 to \(Policy.currentVersion)); upgrade airlock or write version \(Policy.currentVersion)")
                    return nil
                }
                if n == 0 { report(v.position, "version", "expected 1, got 0") }
                version = Int(n)
            }
        }
        guard let top = members(root, "", what: "a JSON object holding the policy", fields: PolicyDecoder.topFields) else { return nil }
        if top["version"] == nil { report(root.position, "", "missing \"version\"; expected \"version\": \(Policy.currentVersion) as the first field") }

        var agents: [Policy.Agent] = []
        for (name, node) in section(top["agents"], "agents", kind: "agent") {
            if let a = agent(name, node) { agents.append(a) } else { broken.insert(name) }
        }
        var services: [Policy.Service] = []
        for (name, node) in section(top["services"], "services", kind: "service") {
            let path = "services.\(name)"
            if let f = members(node, path, what: "an object describing the service", fields: PolicyDecoder.serviceFields),
               let peer = identity(f["peer"], path + ".peer", allowing: nil), let note = note(f["note"], path) {
                services.append(Policy.Service(name: name, peer: peer.fixed!, note: note))
            } else { broken.insert(name) }
        }
        var exits: [Policy.Exit] = []
        var relayExit: String?
        for (name, node) in section(top["exits"], "exits", kind: "exit") {
            let path = "exits.\(name)"
            if let f = members(node, path, what: "an object describing the exit", fields: PolicyDecoder.exitFields),
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
            if let f = members(node, path, what: "an object describing the peer", fields: PolicyDecoder.peerFields),
               let peer = identity(f["peer"], path + ".peer", allowing: nil), let note = note(f["note"], path) {
                peers.append(Policy.Peer(name: name, peer: peer.fixed!, note: note))
            } else { broken.insert(name) }
        }
        let rules = self.rules(top["rules"])
        guard problems.isEmpty else { return nil }
        return Policy(checkedVersion: version, agents: agents, services: services, exits: exits, peers: peers, rules: rules)
    }

    private mutating func agent(_ name: String, _ node: JSONNode) -> Policy.Agent? {
        let path = "agents.\(name)"
        guard let f = members(node, path, what: "an object describing the agent", fields: PolicyDecoder.agentFields) else { return nil }
        var uid: UInt64?
        if let u = f["uid"] { uid = integer(u, path + ".uid", expected: "a non-negative integer uid", range: 0...4_294_967_294) }
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
            guard let f = members(item, path, what: "an object describing the rule", fields: PolicyDecoder.ruleFields) else { continue }
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
            let hint = PolicyDecoder.suggestion(for: name, among: declared.filter { kinds.contains($0.value.kind) }.map(\.key))
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

    /// An object's members by key: reports a non-object, repeated keys, unknown keys and missing
    /// required keys. `nil` only when `node` is not an object.
    private mutating func members(_ node: JSONNode, _ path: String, what: String, fields: [Field]) -> [String: JSONNode]? {
        guard case .object(let members) = node.value else {
            report(node.position, path, "expected \(what), got \(node.summary)")
            return nil
        }
        var out: [String: JSONNode] = [:]
        var firstAt: [String: SourcePosition] = [:]
        let names = fields.map(\.name)
        for m in members {
            let p = path.isEmpty ? m.key : "\(path).\(m.key)"
            if let first = firstAt[m.key] {
                report(m.keyPosition, p, "duplicate key; \(JSONWriter.quoted(m.key)) is already given at \(first)")
                continue
            }
            firstAt[m.key] = m.keyPosition
            guard names.contains(m.key) else {
                let hint = PolicyDecoder.suggestion(for: m.key, among: names)
                report(m.keyPosition, p, "unknown field\(hint); expected one of: \(names.joined(separator: ", "))")
                continue
            }
            out[m.key] = m.value
        }
        for f in fields where f.required && out[f.name] == nil && firstAt[f.name] == nil {
            report(node.position, path, "missing \(JSONWriter.quoted(f.name)); expected \(f.expected)")
        }
        return out
    }

    /// A non-negative integer in `range`, written without sign, fraction or exponent.
    private mutating func integer(_ node: JSONNode, _ path: String, expected: String, range: ClosedRange<UInt64>) -> UInt64? {
        guard case .number(let text) = node.value, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            report(node.position, path, "expected \(expected), got \(node.summary)")
            return nil
        }
        guard let n = UInt64(text), range.contains(n) else {
            report(node.position, path, "\(text) is out of range; expected \(expected) from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return n
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
        guard let f = members(node, path, what: "an object of limits", fields: agent ? PolicyDecoder.agentLimitFields : PolicyDecoder.ruleLimitFields) else { return nil }
        var ok = true
        func read(_ key: String, _ expected: String, max: UInt64) -> UInt64? {
            guard let v = f[key] else { return nil }
            let n = integer(v, "\(path).\(key)", expected: expected, range: 1...max)
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

    struct Field {
        let name: String
        let required: Bool
        let expected: String
    }

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

    /// ` (did you mean "x"?)` when one candidate is within two edits of `word`, else empty.
    public static func suggestion(for word: String, among candidates: [String]) -> String {
        let w = Array(word.utf8)
        var best: (String, Int)?
        for c in candidates.sorted() {
            let d = distance(w, Array(c.utf8))
            if d <= 2, d < max(w.count, 2), best == nil || d < best!.1 { best = (c, d) }
        }
        return best.map { " (did you mean \(JSONWriter.quoted($0.0))?)" } ?? ""
    }

    private static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard a.count < 64, b.count < 64 else { return Int.max }
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return row[b.count]
    }
}
