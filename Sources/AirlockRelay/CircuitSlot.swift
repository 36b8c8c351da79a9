import AirlockCore

/// What a circuit counts against while it is being set up and while it lives: the total, each
/// end's per-peer count, and the policy's `max_circuits` for the source agent and the rule.
struct CircuitSlot {
    let source: PeerID
    let target: PeerID
    /// `agent:<name>` when the source agent sets `max_circuits`, with that cap.
    let agentKey: String?
    let agentCap: Int
    /// `rule:<from>><to>` when the rule sets `max_circuits`, with that cap.
    let ruleKey: String?
    let ruleCap: Int
}
