import AirlockCore

extension Policy {
    /// What one `airlock run` may reach, on top of the policy: its `--allow` targets.
    ///
    /// A caller's `--allow` only narrows (`only`): the run reaches a target when a rule allows it
    /// *and* the target is listed. Root's `--allow` may also grant (`granted`): listed services and
    /// exits the run may reach without a rule. Both hold target names (services or exits).
    public struct RunScope: Hashable, Sendable {
        /// When set, the only targets this run may reach.
        public var only: Set<String>?
        /// Targets this run may reach without a rule (root's `--allow`).
        public var granted: Set<String>
        public init(only: Set<String>? = nil, granted: Set<String> = []) {
            self.only = only
            self.granted = granted
        }
    }

    /// `decision` (a CONNECT decision for `target`) seen through `scope`.
    public func scoped(_ decision: Decision, target: PeerID, scope: RunScope?, bindings: Bindings = Bindings()) -> Decision {
        guard let scope else { return decision }
        let name = entry(for: target, bindings: bindings).map(\.name)
        if decision.allowed {
            guard let only = scope.only, !only.contains(name ?? "") else { return decision }
            return Decision(reason: .outsideRunScope, text: "\(name ?? "\(target)") is not in this run's --allow list",
                            source: decision.source)
        }
        guard decision.reason == .noRule, let name, scope.granted.contains(name) else { return decision }
        return Decision(reason: .runGrant, text: "\(name) granted to this run by --allow", source: decision.source)
    }
}
