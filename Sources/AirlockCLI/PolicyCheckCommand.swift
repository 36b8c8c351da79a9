import AirlockCore
import AirlockCrypto
import AirlockPolicy

/// `airlock policy check`: asks the policy the relay's own CONNECT question (`mayConnect`), or
/// with HOST:PORT the exit question (`mayExit`), and prints the decision with its stable reason.
public enum PolicyCheckCommand: Command {
    public static let name = "check"
    public static let summary = "ask whether FROM may connect to TO"

    /// Exit status for a deny, apart from 1 (the question could not be asked) and 64 (usage).
    public static let denyStatus: Int32 = 2

    public static let help = """
        usage: airlock policy check FROM TO [HOST:PORT] [--policy FILE]

        Asks the policy whether FROM may open a circuit to TO, the question the relay asks for
        every CONNECT, and prints the answer with its reason (docs/policy.md, "Decisions"):
          allow: rule — rule coder → ollama
          deny: no-rule — no rule from agent coder to service git-mirror
        An allowed circuit's limits follow on a `limits:` line. FROM and TO are entry names in
        the policy or peer IDs. A per-run agent is checked as one of its runs would be. With
        HOST:PORT (TO must be an exit) the question is the exit's: may FROM reach HOST:PORT
        through TO (an IPv6 HOST is written in brackets: [2001:db8::1]:443).

        options:
          --policy FILE  the policy file (else $\(PolicyCommand.environmentVariable), else \(PolicyCommand.defaultPath))
          -h, --help     show this help

        exit status: 0 allow, 2 deny, 1 the question cannot be asked (invalid policy, a name that
        is not in it), 64 usage error.

        examples:
          airlock policy check coder ollama
          airlock policy check coder web api.github.com:443
        """

    public static func run(_ args: [String]) throws -> Int32 {
        let parsed = try Arguments(args, options: ["policy"])
        if parsed.wantsHelp { Output.out(help); return 0 }
        let operands = CommandGroup.operands(parsed)
        guard operands.count >= 2 else { throw Arguments.UsageError("FROM and TO are needed") }
        guard operands.count <= 3 else { throw Arguments.UsageError("unexpected argument \(operands[3])") }
        let destination = try operands.count == 3 ? parseHostPort(operands[2]) : nil
        let path = PolicyCommand.path(try parsed.value("policy"))
        let policy = try PolicyCommand.load(path)
        let decision = try decide(policy, path: path, from: operands[0], to: operands[1], destination: destination)
        var text = "\(decision.allowed ? "allow" : "deny"): \(decision.reason.rawValue) — \(decision.text)"
        if decision.allowed && !decision.limits.isEmpty { text += "\nlimits: \(PolicyShowCommand.limits(decision.limits))" }
        if decision.allowed, let destination { text += "\n" + blocklistNote(destination.host) }
        Output.out(text)
        return decision.allowed ? 0 : denyStatus
    }

    /// The decision for `from` → `to` (names or peer IDs), through exit `to` to `destination` if given.
    static func decide(_ policy: Policy, path: String, from: String, to: String,
                       destination: (host: NormalisedHost, port: UInt16)?) throws(CommandFailure) -> Policy.Decision {
        let (source, bindings) = try sourcePeer(policy, path: path, from)
        let target = try entry(policy, path: path, to)
        if let destination {
            guard case .exit(let exit)? = target.entry else {
                throw CommandFailure("HOST:PORT applies only when TO is an exit; \(describe(target, to)) is not; leave HOST:PORT out")
            }
            return policy.mayExit(from: source, exit: exit.name, host: destination.host, port: destination.port, bindings: bindings)
        }
        if let peer = target.peer { return policy.mayConnect(from: source, to: peer, bindings: bindings) }
        return policy.mayConnect(from: source, toNamed: to, bindings: bindings)
    }

    /// What the exit still does after the policy allowed a destination: a name is resolved by
    /// the exit, and addresses on its blocklist are refused unless a rule names them; an
    /// address the rule names is dialled even when the blocklist lists it.
    static func blocklistNote(_ host: NormalisedHost) -> String {
        switch host {
        case .name(let n):
            return "note: the exit resolves \(n) itself and refuses any address of it on its blocklist (loopback, private, metadata, …) that no rule names"
        case .address(let a):
            guard let entry = AddressBlocklist.blocked(a) else { return "note: \(a) is not on the exit's blocklist" }
            return "note: \(a) is \(entry.token) (\(entry.description)), which the exit refuses unless a rule names it, as this one does"
        }
    }

    /// An operand resolved: the entry it names or whose identity it is, or an unlisted peer ID.
    private struct Resolved {
        var entry: Policy.Entry?
        var peer: PeerID?
    }

    private static func entry(_ policy: Policy, path: String, _ text: String) throws(CommandFailure) -> Resolved {
        if let e = policy.entry(named: text) { return Resolved(entry: e, peer: nil) }
        if let peer = try? PeerID(text) { return Resolved(entry: policy.entry(for: peer), peer: peer) }
        let names = ([policy.agents.map(\.name), policy.services.map(\.name), policy.exits.map(\.name), policy.peers.map(\.name)])
            .joined().sorted()
        let known = names.isEmpty ? "it names nothing" : "its names are: " + names.joined(separator: ", ")
        throw CommandFailure("\(text) is neither a name in the policy \(path) nor a peer ID; \(known)")
    }

    /// The peer ID to ask as, with the bindings that make it count. A per-run agent has no fixed
    /// identity, so a fresh one is bound to it, exactly as `airlock run` registers a run.
    private static func sourcePeer(_ policy: Policy, path: String, _ text: String) throws(CommandFailure) -> (PeerID, Policy.Bindings) {
        let resolved = try entry(policy, path: path, text)
        if let peer = resolved.peer { return (peer, Policy.Bindings()) }
        switch resolved.entry {
        case .agent(let a)? where a.identity == .perRun:
            let run = PeerID(publicKey: Ed25519PrivateKey().publicKey)
            return (run, Policy.Bindings([run: a.name]))
        case let e?:
            guard let peer = e.fixedPeer else {
                throw CommandFailure("\(e.kind) \(e.name) is the relay's built-in exit; it has no peer ID and never opens circuits, so it cannot be FROM")
            }
            return (peer, Policy.Bindings())
        case nil:
            preconditionFailure("entry(_:) resolves a name to an entry")
        }
    }

    private static func describe(_ r: Resolved, _ text: String) -> String {
        r.entry.map { "\($0.kind) \($0.name)" } ?? "peer \(text) (not in the policy)"
    }

    /// `HOST:PORT` with the host normalised as the exit normalises requests.
    static func parseHostPort(_ text: String) throws(Arguments.UsageError) -> (host: NormalisedHost, port: UInt16) {
        guard let colon = text.lastIndex(of: ":") else {
            throw Arguments.UsageError("HOST:PORT needs a port, as in example.com:443; got \(text)")
        }
        let hostText = text[..<colon]
        guard let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
            throw Arguments.UsageError("the port in \(text) is not a number from 1 to 65535")
        }
        if !hostText.hasPrefix("[") && hostText.contains(":") {
            throw Arguments.UsageError("write an IPv6 host in brackets, as in [2001:db8::1]:443; got \(text)")
        }
        switch NormalisedHost.parse(hostText) {
        case .success(let host): return (host, port)
        case .failure(let e): throw Arguments.UsageError("bad host in \(text): \(e)")
        }
    }
}
