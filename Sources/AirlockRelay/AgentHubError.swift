import AirlockIO
import AirlockNet

/// Why the agent hub refused or failed an operation. Every failure of `attach` leaves nothing
/// behind (design §2 invariant 10), so the caller must not start the agent.
public enum AgentHubError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A hub prefix or agent name we refuse before touching the kernel.
    case invalidName(String, reason: String)
    /// Another live process holds the prefix's lock (a relay with the same hub prefix).
    case prefixInUse(String, lock: String)
    /// `attach` or `stop` before `start`, or `start` twice.
    case notStarted
    case alreadyStarted
    /// An agent of that name is attached already.
    case alreadyAttached(String)
    /// Every link-local pair is in use.
    case noFreeAddress
    /// The address pair asked for (to reattach an agent to the address its shim dials) is taken.
    case addressInUse(IPv4Address, by: String)
    /// The namespace offered to `attach` is the host's (or this process's).
    case hostNamespace(String)
    /// The namespace offered to `attach` holds interfaces besides `lo` (listed).
    case namespaceNotEmpty(String, interfaces: [String])
    /// The namespace offered to `attach` is the hub's or already holds another agent (named).
    case namespaceInUse(String, by: String)
    /// A namespace, link, address or sysctl step failed (which step, and why).
    case network(step: String, NetError)
    /// Creating or serving the agent's listener failed (which step, and the errno).
    case socket(step: String, Errno)

    public var description: String {
        switch self {
        case .invalidName(let n, let reason): return "invalid name \"\(n)\": \(reason)"
        case .prefixInUse(let p, let lock):
            return "another relay uses the hub prefix \(p) (it holds \(lock)); stop it, or give this one another --hub-prefix"
        case .notStarted: return "the agent hub is not started"
        case .alreadyStarted: return "the agent hub is already started"
        case .alreadyAttached(let n): return "an agent named \"\(n)\" is already attached; detach it first or pick another name"
        case .noFreeAddress: return "no free link-local address pair (\(LinkLocalPair.capacity) agents attached)"
        case .addressInUse(let a, let by): return "the agent address \(a) is taken by agent \(by) since the relay restarted"
        case .hostNamespace(let ns):
            return "refusing \(ns): it is the host's network namespace; give the agent a namespace of its own"
        case .namespaceNotEmpty(let ns, let names):
            return "refusing \(ns): it holds interfaces besides lo (\(names.joined(separator: ", "))); an agent namespace must hold only lo"
        case .namespaceInUse(let ns, let by): return "refusing \(ns): it is already used by \(by)"
        case .network(let step, let e): return "\(step): \(e)"
        case .socket(let step, let e): return "\(step): \(e)"
        }
    }
}
