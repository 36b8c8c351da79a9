#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockNet
import AirlockPolicy
import AirlockRelay
internal import CAirlockShims

/// The relay's side of `airlock run`, `attach` and `detach` (design §4): serves the control
/// socket, decides who may run which agent, and owns every run's pieces: its hub attachment,
/// its identity binding and `--allow` scope in the relay server, its shim and its command.
///
/// Who: callers are identified by `SO_PEERCRED`. A caller may use only the policy agents whose
/// `uid` is its own (root may use any); only callers in the relay's own network namespace are
/// served (never the hub's or an agent's). The command runs as the caller (or, for root, as
/// `SUDO_UID` or the `airlock-agent` account), the shim as `airlock-shim`, each in its own PID
/// namespace inside the agent's network namespace.
///
/// Lifetime: a run's processes live as long as its caller's lifeline (see `ControlProtocol`),
/// not as long as the relay, so a relay restart does not end them: stopping the relay
/// *suspends* each run (its link goes away, its processes stay) and the caller reattaches it to
/// the next relay. A run ends when its command exits, when its caller goes away (even by
/// SIGKILL: the lifeline closes and the connection drops), or on `detach`; then both process
/// trees are killed, the identity is unbound, and the veth and namespace are deleted. An
/// attachment (`attach`) has no lifeline: its shim ends with the relay.
///
/// **Thread:** the host's loop only.
public final class AgentManager {
    public let hub: AgentHub
    public let server: RelayServer
    let logger: Logger
    /// The airlock binary, opened by path once at start (O_PATH): the shim is executed from it,
    /// so `airlock-shim` needs no access to the directories above it.
    let executable: Int32
    /// The relay's own network namespace: the only one whose processes the control socket serves.
    let home: NamespaceID?
    /// Seconds a shim has to report `shim ready`.
    public var shimStartTimeout: Double = 10
    /// The policy file the relay reads, for `reload` (who may ask: root and its owner) and
    /// `status`; nil refuses `reload`.
    public var policyPath: String?
    /// Re-reads `policyPath` and applies it (the relay's SIGHUP path): the outcome, or every
    /// problem of a file that does not validate (the last good policy then stays).
    public var reloadPolicy: (() -> Result<RelayServer.ReloadOutcome, PolicyError>)?
    /// The relay's own exit, when it runs one (`airlock relay --exit`): its open connections
    /// appear in `status`.
    public weak var exit: ExitService?

    var control: ControlServer?
    var runs: [String: Run] = [:]
    /// This machine's cgroup hierarchies, read once at start (`AgentManager+Cgroup.swift`).
    let cgroupLayout = CgroupLayout.current()
    /// Run cgroups whose removal is still being retried.
    var cgroupsLeft: [RunCgroup] = []

    /// One agent namespace with its shim, and for `run` its command and caller.
    final class Run {
        let name: String
        let agent: String
        let peer: PeerID
        /// A run (with a lifeline and a caller) rather than an attachment.
        let isRun: Bool
        /// The caller's connection while it lasts.
        var caller: ControlPeer?
        var shim: RunProcess?
        var command: RunProcess?
        /// The run's end of the lifeline, held until the command has it too.
        var lifeline: Int32 = -1
        var shimOutput: Int32 = -1
        var shimLine: [UInt8] = []
        var shimTimer: TimerID?
        /// Descriptors received for the command, closed once it started or the run ended.
        var heldFDs: [Int32] = []
        /// Its limits and cgroup (runs only).
        var bounds: RunBounds?
        var ended = false
        /// When the relay built it (or reattached it), for `status`.
        let created = MonotonicTime.now()
        init(name: String, agent: String, peer: PeerID, isRun: Bool, caller: ControlPeer?) {
            self.name = name; self.agent = agent; self.peer = peer; self.isRun = isRun; self.caller = caller
        }
    }

    public init(hub: AgentHub, server: RelayServer, logger: Logger) throws(Errno) {
        self.hub = hub
        self.server = server
        self.logger = logger
        let fd = airlock_open_exec_path("/proc/self/exe")
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        executable = fd
        home = try? NamespaceID.network(ofProcess: getpid())
        sweepCgroups()
        server.onPolicyRefusal = { [weak self] source, target, reason in
            self?.policyRefused(source: source, target: target, reason: reason)
        }
    }

    deinit { close(executable) }

    /// Serves the control socket at `path` (its directory `root:group` 0750, the socket 0660).
    public func listen(path: String, group: UInt32?) throws(ControlSocketError) {
        let c = try ControlServer(path: path, loop: hub.host.loop, group: group)
        c.onMessage = { [weak self] peer, bytes, fds in
            guard let self else { fds.forEach { _ = close($0) }; return }
            self.received(from: peer, bytes, fds)
        }
        c.onDisconnect = { [weak self] peer, reason in self?.callerGone(peer, reason) }
        control = c
    }

    /// Suspends every running command (its processes stay; its caller may reattach it to the
    /// next relay), ends every attachment and every run still starting, and closes the socket.
    public func stop() {
        for name in runs.keys.sorted() {
            guard let run = runs[name] else { continue }
            if run.isRun && run.command != nil && run.caller != nil { suspend(run, reason: "relay stopping") }
            else { end(name, reason: "relay stopping", notify: true) }
        }
        control?.close()
        control = nil
        stopCgroups()
    }

    /// Names of the runs and attachments alive now.
    public var names: [String] { runs.keys.sorted() }

    // MARK: requests

    private func received(from peer: ControlPeer, _ bytes: [UInt8], _ fds: [Int32]) {
        var fds = fds
        defer { fds.forEach { _ = close($0) } }
        let type: String
        do { type = try ControlMessage.decode(bytes).type } catch { return refuse(peer, "\(error)") }
        if let reason = Self.misplaced(peer, hub: hub, home: home) { return refuse(peer, reason) }
        do {
            switch type {
            case "run":
                let r = try ControlMessage.decode(ControlProtocol.RunRequest.self, from: bytes).body
                try run(r, from: peer, fds: &fds)
            case "attach":
                let r = try ControlMessage.decode(ControlProtocol.AttachRequest.self, from: bytes).body
                try attach(r, from: peer, fds: &fds)
            case "detach":
                let r = try ControlMessage.decode(ControlProtocol.DetachRequest.self, from: bytes).body
                try detach(r, from: peer)
            case "reattach":
                let r = try ControlMessage.decode(ControlProtocol.ReattachRequest.self, from: bytes).body
                try reattach(r, from: peer, fds: &fds)
            case "reload":
                try reload(from: peer)
            case "status":
                status(for: peer)
            default:
                throw Refusal("unknown request \"\(type)\"")
            }
        } catch let e as Refusal {
            refuse(peer, e.message)
        } catch {
            refuse(peer, "\(error)")
        }
    }

    /// Why a caller may not use the control socket from where it is, or nil: it must be in the
    /// relay's own network namespace (never the hub's, an agent's, or one not yet reattached).
    static func misplaced(_ peer: ControlPeer, hub: AgentHub, home: NamespaceID?) -> String? {
        guard let ns = peer.network else { return "cannot tell which network namespace the caller is in" }
        if hub.isHubOrAgent(ns) || (home != nil && ns != home) {
            return "the control socket does not serve agents"
        }
        return nil
    }

    struct Refusal: Error { let message: String; init(_ m: String) { message = m } }

    func refuse(_ peer: ControlPeer, _ message: String) {
        logger.warn("control_refused", ["uid": peer.uid, "pid": peer.pid, "reason": message])
        reply(peer, "error", ControlProtocol.Failure(message: message))
        if runs.values.contains(where: { $0.caller?.id == peer.id }) { return }
        control?.disconnect(peer)
    }

    /// Sends a reply, with `fds` (which stay ours) when given.
    func reply<Body: Encodable>(_ peer: ControlPeer, _ type: String, _ body: Body, fds: [Int32] = []) {
        guard let control, let bytes = try? ControlMessage.encode(type: type, body: body) else { return }
        try? control.send(to: peer, bytes, fds: fds)
    }

    // MARK: authorisation

    /// The policy agent `requested` (or the caller's only one) if the caller owns it. `owner`:
    /// whose agents are the default for root (the sudo user's), else root's own.
    func authorise(_ requested: String?, caller: ControlPeer, owner: UInt32? = nil) throws(Refusal) -> Policy.Agent {
        let policy = server.policy
        if let name = requested {
            guard let a = policy.agent(named: name) else { throw Refusal("no agent named \(name) in the policy") }
            guard caller.uid == 0 || caller.uid == a.uid else {
                throw Refusal("agent \(name) belongs to uid \(a.uid), not to uid \(caller.uid)")
            }
            return a
        }
        // Root's own agents (or the sudo user's) first; root with none of those may pick any
        // single agent.
        let uid = caller.uid == 0 ? (owner ?? 0) : caller.uid
        var own = policy.agents.filter { $0.uid == uid }
        if own.isEmpty && caller.uid == 0 { own = policy.agents }
        guard own.count == 1 else {
            if own.isEmpty && caller.uid == 0 { throw Refusal("the policy lists no agents; add one (docs/policy.md)") }
            if own.isEmpty { throw Refusal("the policy lists no agent for uid \(caller.uid); add one (docs/policy.md)") }
            throw Refusal("several agents are yours (\(own.map(\.name).sorted().joined(separator: ", "))): choose one with --name")
        }
        return own[0]
    }

    /// The identity a run or attachment uses: the key handed over, or a fresh one for a per-run
    /// agent. A fixed-identity agent must hand over its key.
    func identity(for agent: Policy.Agent, keyFD: Int32?) throws(Refusal) -> Ed25519PrivateKey {
        let key: Ed25519PrivateKey
        if let keyFD {
            do { key = try KeyFile.read(fd: keyFD, name: "the key passed with --key") } catch { throw Refusal("\(error)") }
        } else {
            if case .fixed(let p) = agent.identity { throw Refusal("agent \(agent.name) has the fixed identity \(p): give its key with --key") }
            key = Ed25519PrivateKey()
        }
        try checkIdentity(PeerID(publicKey: key.publicKey), for: agent)
        return key
    }

    /// Refuses `peer` for `agent` unless it is the agent's fixed identity (not running yet) or a
    /// per-run identity the policy lets the relay bind.
    func checkIdentity(_ peer: PeerID, for agent: Policy.Agent) throws(Refusal) {
        switch agent.identity {
        case .fixed(let p):
            guard p == peer else { throw Refusal("the key given is \(peer), but agent \(agent.name) is \(p)") }
            if runs.values.contains(where: { $0.peer == peer }) { throw Refusal("agent \(agent.name) (\(p)) is already running") }
        case .perRun:
            let d = server.policy.mayBind(peer, to: agent.name, bindings: server.bindings)
            guard d.allowed else { throw Refusal(d.text) }
        }
    }

    /// The `--allow` scope: each target must be a service or exit; root's list grants.
    func scope(_ allow: [String], agent: Policy.Agent, caller: ControlPeer) throws(Refusal) -> Policy.RunScope? {
        guard !allow.isEmpty else { return nil }
        let policy = server.policy
        var names = Set<String>()
        for t in allow {
            guard policy.service(named: t) != nil || policy.exit(named: t) != nil else {
                throw Refusal("--allow \(t): no service or exit of that name in the policy")
            }
            if caller.uid != 0 && policy.rule(from: agent.name, to: t) == nil {
                throw Refusal("--allow \(t): the policy has no rule from \(agent.name) to \(t), and only root's --allow may grant")
            }
            names.insert(t)
        }
        return Policy.RunScope(only: names, granted: caller.uid == 0 ? names : [])
    }

    /// A free attachment name for `agent`: the agent's own, else `agent-2`, `agent-3`, …
    func attachmentName(for agent: String, preferring wanted: String? = nil) -> String {
        if let wanted, runs[wanted] == nil, hub.agent(named: wanted) == nil { return wanted }
        // A cgroup of the name may belong to a run that outlived its relay and will reattach.
        func free(_ n: String) -> Bool { runs[n] == nil && hub.agent(named: n) == nil && !cgroupTaken(n) }
        if free(agent) { return agent }
        var i = 2
        while !free("\(agent)-\(i)") { i += 1 }
        return "\(agent)-\(i)"
    }
}
