import AirlockCore
import AirlockNet

/// One attached agent as the hub wired it: where its namespace is, the /31 on its veth, and the
/// identity its listener admits. A value: a copy stays valid as a record after `detach`.
public struct AgentLink: Sendable, Equatable, CustomStringConvertible {
    /// The agent's name, unique among attached agents.
    public let name: String
    /// The agent namespace's name under `/run/netns`; nil for a namespace that has none (one
    /// opened by pid).
    public let netnsName: String?
    /// True when the hub created the namespace (and deletes it on `detach`).
    public let ownsNamespace: Bool
    /// The hub end of the veth, where the agent's listener is bound.
    public let hubAddress: IPv4Address
    /// The agent end of the veth.
    public let agentAddress: IPv4Address
    /// The listener's TCP port on `hubAddress`.
    public let port: UInt16
    /// The only identity admitted on this agent's listener (design §2 invariant 3).
    public let peer: PeerID
    /// Interface names: the veth's hub end (in the hub namespace) and agent end.
    public let hubInterface: String
    public let agentInterface: String

    public var description: String {
        "agent \(name) netns=\(netnsName ?? "-") \(agentAddress) -> \(hubAddress):\(port) peer=\(peer)"
    }
}
