extension Policy {
    /// The answer to one authorisation question: allow or deny, a stable machine reason for logs
    /// and tests (`reason=no-rule`), a sentence for the operator, and, when a circuit is allowed,
    /// the limits it runs under.
    public struct Decision: Hashable, Sendable, CustomStringConvertible {
        /// Stable reason strings: log consumers and tests match on these, so they never change
        /// meaning; new ones may be added.
        public enum Reason: String, Hashable, Sendable, CaseIterable {
            // Allowed.
            /// RESERVE by a listed service.
            case service = "service"
            /// RESERVE by a listed exit peer.
            case exit = "exit"
            /// CONNECT allowed by a rule.
            case rule = "rule"
            /// Exit destination allowed by a rule's destination pattern.
            case destination = "destination"
            /// A per-run identity may be bound to its agent.
            case bindable = "bindable"
            /// CONNECT granted for one run by root's `airlock run --allow` (no rule needed).
            case runGrant = "run-grant"

            // Denied.
            /// The peer is neither listed nor bound to a per-run agent.
            case unknownPeer = "unknown-peer"
            /// A known peer that is not a service or exit asked to RESERVE.
            case notAService = "not-a-service"
            /// The CONNECT target is not in the policy.
            case unknownTarget = "unknown-target"
            /// The CONNECT target is an agent or a plain peer, which nobody may connect to.
            case notATarget = "not-a-target"
            /// No rule from the source to the target.
            case noRule = "no-rule"
            /// The exit named in a request is not in the policy.
            case unknownExit = "unknown-exit"
            /// A rule to the exit exists but none of its destinations matches host:port.
            case noDestination = "no-destination"
            /// The agent named for a per-run identity is not in the policy.
            case unknownAgent = "unknown-agent"
            /// The agent has a fixed identity, so a per-run one cannot be bound to it.
            case fixedIdentity = "fixed-identity"
            /// The identity is already listed in the policy or bound to a run.
            case identityInUse = "identity-in-use"
            /// A rule allows it, but the run was started with `--allow` that leaves it out.
            case outsideRunScope = "outside-run-scope"

            public var allows: Bool {
                switch self {
                case .service, .exit, .rule, .destination, .bindable, .runGrant: return true
                default: return false
                }
            }
        }

        public let reason: Reason
        /// One sentence naming the entries involved, for the operator.
        public let text: String
        /// Name of the requesting entry, when it is known (for per-agent denial counts and logs).
        public let source: String?
        /// The limits an allowed circuit runs under: the agent's tightened by the rule's.
        public let limits: Limits

        public init(reason: Reason, text: String, source: String? = nil, limits: Limits = .none) {
            self.reason = reason
            self.text = text
            self.source = source
            self.limits = limits
        }

        public var allowed: Bool { reason.allows }

        /// `allow rule: …` or `deny no-rule: …`.
        public var description: String { "\(allowed ? "allow" : "deny") \(reason.rawValue): \(text)" }
    }
}
