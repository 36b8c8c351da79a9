extension Policy {
    /// Bounds on an agent's circuits, set per agent and per rule; a field left out (`nil`) means
    /// no bound from that place. Where both an agent and a rule set a field, the smaller wins.
    ///
    /// `circuitSeconds` and `circuitBytes` become the Circuit Relay v2 `Limit` (duration in
    /// seconds; data in bytes, counted in each direction) the relay sends with a CONNECT; with
    /// neither set it sends no Limit (design §3).
    public struct Limits: Hashable, Sendable {
        /// Longest life of one circuit, in seconds (Circuit v2 `Limit.duration` is a uint32).
        public var circuitSeconds: UInt32?
        /// Most bytes one circuit may carry in each direction (Circuit v2 `Limit.data`).
        public var circuitBytes: UInt64?
        /// Most circuits open at once (for the agent, or for the rule's source → target pair).
        public var maxCircuits: UInt32?
        /// After this many denied requests the relay stops the agent's run. Agents only.
        public var killAfterDenials: UInt32?

        public static let none = Limits()

        public init(circuitSeconds: UInt32? = nil, circuitBytes: UInt64? = nil, maxCircuits: UInt32? = nil, killAfterDenials: UInt32? = nil) {
            self.circuitSeconds = circuitSeconds
            self.circuitBytes = circuitBytes
            self.maxCircuits = maxCircuits
            self.killAfterDenials = killAfterDenials
        }

        public var isEmpty: Bool { self == .none }

        /// Each field the smaller of the two where both are set, else whichever is set.
        public func tightened(by other: Limits) -> Limits {
            func least<T: Comparable>(_ a: T?, _ b: T?) -> T? {
                guard let a else { return b }
                guard let b else { return a }
                return min(a, b)
            }
            return Limits(circuitSeconds: least(circuitSeconds, other.circuitSeconds),
                          circuitBytes: least(circuitBytes, other.circuitBytes),
                          maxCircuits: least(maxCircuits, other.maxCircuits),
                          killAfterDenials: least(killAfterDenials, other.killAfterDenials))
        }
    }
}
