import AirlockCore

extension Policy {
    /// The per-run identities the relay has registered: peer ID → agent name. The relay owns
    /// this (it changes as runs start and end) and passes it to every evaluation; the policy
    /// itself never holds run state, so a reload keeps the runs.
    ///
    /// A binding counts only while its agent exists in the policy with identity `per-run`;
    /// a listed fixed identity always wins over a binding.
    public struct Bindings: Hashable, Sendable {
        public private(set) var agents: [PeerID: String] = [:]

        public init() {}

        public init(_ agents: [PeerID: String]) { self.agents = agents }

        public subscript(peer: PeerID) -> String? { agents[peer] }

        /// Records that `peer` is this run's identity of `agent`. Check `Policy.mayBind` first.
        public mutating func bind(_ peer: PeerID, to agent: String) { agents[peer] = agent }

        /// Forgets `peer` when its run ends.
        public mutating func unbind(_ peer: PeerID) { agents[peer] = nil }

        /// The identities bound to `agent` (several runs of one agent may be alive at once).
        public func peers(of agent: String) -> [PeerID] { agents.filter { $0.value == agent }.map(\.key).sorted() }
    }

    /// Whether `peer` may become a run identity of `agent`: the agent exists and is per-run,
    /// and `peer` is neither a listed identity nor already bound to a run.
    public func mayBind(_ peer: PeerID, to agent: String, bindings: Bindings) -> Decision {
        guard let a = self.agent(named: agent) else {
            return Decision(reason: .unknownAgent, text: "no agent named \(agent)")
        }
        guard a.identity == .perRun else {
            return Decision(reason: .fixedIdentity, text: "agent \(agent) has the fixed identity \(a.identity), not per-run", source: agent)
        }
        if let e = entriesByPeer(peer) {
            return Decision(reason: .identityInUse, text: "peer \(peer) is already \(e.kind) \(e.name)", source: agent)
        }
        if let other = bindings[peer] {
            return Decision(reason: .identityInUse, text: "peer \(peer) is already bound to a run of agent \(other)", source: agent)
        }
        return Decision(reason: .bindable, text: "peer \(peer) may run as agent \(agent)", source: agent)
    }

    /// The entry listed with fixed identity `peer`, ignoring bindings.
    private func entriesByPeer(_ peer: PeerID) -> Entry? { entry(for: peer, bindings: Bindings()) }
}
