#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockIO
import AirlockNet

/// The relay's side of agent isolation (design §1): a hub network namespace with no uplink, and
/// per agent a namespace joined to the hub by one veth with a link-local /31, plus a listener in
/// the hub on the hub end that admits exactly the agent's registered identity (invariant 3).
///
/// Names: the hub namespace is `<prefix>-hub`, a namespace the hub creates for agent N is
/// `<prefix>-N`, and the veth of link-local pair `i` is `<prefix>h<i>` (hub end) / `<prefix>a<i>`
/// (agent end). `start` deletes whatever a crashed relay with the same prefix left, so each relay
/// needs a prefix of its own that is not a prefix of another relay's.
///
/// **Thread:** the host's loop thread only (like `Host` and `RelayServer`). Namespace work runs on
/// short-lived threads inside the target namespace (`NetworkNamespace.run`) while the calling
/// thread waits, so `start`, `attach`, `detach` and `stop` block the loop for the few
/// milliseconds netlink takes, plus at most `teardownTimeoutMilliseconds` while polling teardown.
///
/// **Fail closed:** a failed `attach` undoes every step it made before throwing (invariant 10).
/// Dropping the hub without `stop` leaves the namespaces in place; the next `start` sweeps them.
public final class AgentHub {
    /// The default port of an agent's listener on its hub address.
    public static let defaultPort: UInt16 = 4001
    /// Longest prefix: `<prefix>h<index>` must fit an interface name (15 bytes) for every index
    /// below `LinkLocalPair.capacity` (at most 5 digits).
    public static let maxPrefixLength = LinkInfo.maxNameLength - 1 - String(LinkLocalPair.capacity - 1).count
    /// Longest agent name.
    public static let maxNameLength = 32

    public let prefix: String
    public let host: Host
    /// The TCP port every agent listener uses on its own hub address.
    public let port: UInt16
    let logger: Logger
    /// Accept backlog of each agent listener (one agent opens few connections).
    public var listenBacklog: Int32 = 64
    /// Bound on each wait for a link or namespace to disappear.
    public var teardownTimeoutMilliseconds = 2000

    /// The hub namespace while started.
    public private(set) var hub: NetworkNamespace?
    /// While started: an exclusive lock on `lockPath`, so a second relay with the same prefix
    /// cannot sweep this one's namespaces.
    private var lockFD: Int32 = -1
    /// `/run/airlock-<prefix>.lock`.
    public var lockPath: String { "/run/airlock-\(prefix).lock" }
    var attached: [String: Attachment] = [:]

    /// What the hub holds for one agent beyond its public `AgentLink`.
    final class Attachment {
        let link: AgentLink
        let index: Int
        let namespace: NetworkNamespace
        let listener: TCPListener
        /// Ids of connections admitted on this agent's listener (pruned as they close).
        var connections: Set<UInt64> = []
        init(link: AgentLink, index: Int, namespace: NetworkNamespace, listener: TCPListener) {
            self.link = link; self.index = index; self.namespace = namespace; self.listener = listener
        }
    }

    /// Validates `prefix` (1…`maxPrefixLength` of `[a-z0-9]`, starting with a letter; no `-`, so
    /// the sweep of `<prefix>-*` never reaches another prefix's namespaces). Nothing is created
    /// until `start`.
    public init(prefix: String, host: Host, port: UInt16 = AgentHub.defaultPort, logger: Logger) throws(AgentHubError) {
        try Self.validate(prefix: prefix)
        guard port != 0 else { throw .invalidName("0", reason: "the agent listener port must not be 0") }
        self.prefix = prefix
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// The hub namespace's name, `<prefix>-hub` (listed by `ip netns list`).
    public var hubNamespaceName: String { prefix + "-hub" }

    /// Attached agents, by name.
    public var agents: [AgentLink] { attached.values.map(\.link).sorted { $0.name < $1.name } }

    public func agent(named name: String) -> AgentLink? { attached[name]?.link }

    /// The network namespace of attached agent `name`.
    public func namespace(of name: String) -> NetworkNamespace? { attached[name]?.namespace }

    /// True when `id` is the hub's namespace or an attached agent's (callers from there are
    /// agents, never operators).
    public func isHubOrAgent(_ id: NamespaceID) -> Bool {
        hub?.id == id || attached.values.contains { $0.namespace.id == id }
    }

    // MARK: life cycle

    /// Sweeps what a crashed relay with this prefix left (namespaces `<prefix>-*`, links
    /// `<prefix>h*` in this process's namespace), then creates the hub namespace with `lo` up and
    /// routing locked down (`NetworkNamespace.harden`: no forwarding, strict rp_filter, no IPv6).
    /// On failure nothing of the new hub is left.
    public func start() throws(AgentHubError) {
        guard hub == nil else { throw .alreadyStarted }
        try lock()
        do throws(AgentHubError) { try create() } catch {
            unlock()
            throw error
        }
    }

    /// Takes the prefix's lock (flock, released when this process ends however it ends). The
    /// file is removed at stop; a lock taken on a file removed meanwhile is taken again.
    private func lock() throws(AgentHubError) {
        for _ in 0..<8 {
            let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw .socket(step: "open \(lockPath)", Errno(rawValue: errno)) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let e = errno
                close(fd)
                if e == EWOULDBLOCK { throw .prefixInUse(prefix, lock: lockPath) }
                throw .socket(step: "lock \(lockPath)", Errno(rawValue: e))
            }
            var held = stat(), named = stat()
            if fstat(fd, &held) == 0, stat(lockPath, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
                lockFD = fd
                return
            }
            close(fd)
        }
        throw .prefixInUse(prefix, lock: lockPath)
    }

    private func unlock() {
        guard lockFD >= 0 else { return }
        unlink(lockPath)
        close(lockFD)
        lockFD = -1
    }

    private func create() throws(AgentHubError) {
        let swept = try Self.net("sweep stale namespaces") { () throws(NetError) in
            let names = try NetworkNamespace.sweep(prefix: prefix + "-")
            for n in names { try NetworkNamespace.waitUntilGone(name: n, timeoutMilliseconds: teardownTimeoutMilliseconds) }
            return names
        }
        let sweptLinks = try Self.net("sweep stale links") { () throws(NetError) in
            try NetworkNamespace.ofProcess().deleteLinks(prefix: prefix + "h")
        }
        let name = hubNamespaceName
        let ns = try Self.net("create hub namespace \(name)") { () throws(NetError) in try NetworkNamespace.create(name: name) }
        do throws(AgentHubError) {
            try Self.net("harden hub namespace \(name)") { () throws(NetError) in
                try ns.harden()
                try ns.bringLoopbackUp()
                try ns.harden()
            }
        } catch {
            try? NetworkNamespace.delete(name: name)
            try? NetworkNamespace.waitUntilGone(name: name, timeoutMilliseconds: teardownTimeoutMilliseconds)
            throw error
        }
        hub = ns
        logger.info("hub_started", ["hub": name, "swept": (swept + sweptLinks).joined(separator: ",")])
    }

    /// Detaches every agent, then deletes the hub namespace and waits until it is gone. Keeps
    /// going past failures and throws the first; the hub counts as stopped either way.
    public func stop() throws(AgentHubError) {
        guard hub != nil else { return }
        var first: AgentHubError?
        for name in attached.keys.sorted() {
            do throws(AgentHubError) { try detach(name: name) } catch { if first == nil { first = error } }
        }
        self.hub = nil
        let name = hubNamespaceName
        do throws(AgentHubError) {
            try Self.net("delete hub namespace \(name)") { () throws(NetError) in
                do throws(NetError) { try NetworkNamespace.delete(name: name) } catch where error.isNotFound {}
                try NetworkNamespace.waitUntilGone(name: name, timeoutMilliseconds: teardownTimeoutMilliseconds)
            }
        } catch { if first == nil { first = error } }
        unlock()
        logger.info("hub_stopped", ["hub": name])
        if let first { throw first }
    }

    // MARK: names

    public static func validate(prefix: String) throws(AgentHubError) {
        let b = Array(prefix.utf8)
        guard (1...maxPrefixLength).contains(b.count) else {
            throw .invalidName(prefix, reason: "a hub prefix is 1 to \(maxPrefixLength) characters")
        }
        guard b.allSatisfy({ isLower($0) || isDigit($0) }), isLower(b[0]) else {
            throw .invalidName(prefix, reason: "a hub prefix is lowercase letters and digits, starting with a letter")
        }
    }

    /// Agent names: 1…`maxNameLength` of `[a-z0-9-]`, not starting or ending with `-`, not `hub`.
    static func validate(agentName name: String) throws(AgentHubError) {
        let b = Array(name.utf8)
        guard (1...maxNameLength).contains(b.count) else {
            throw .invalidName(name, reason: "an agent name is 1 to \(maxNameLength) characters")
        }
        let dash = UInt8(ascii: "-")
        guard b.allSatisfy({ isLower($0) || isDigit($0) || $0 == dash }), b.first != dash, b.last != dash else {
            throw .invalidName(name, reason: "an agent name is lowercase letters, digits and inner dashes")
        }
        guard name != "hub" else { throw .invalidName(name, reason: "\"hub\" names the hub namespace") }
    }

    private static func isLower(_ c: UInt8) -> Bool { c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }
    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// Runs an AirlockNet step, naming it in the error.
    static func net<T>(_ step: @autoclosure () -> String, _ body: () throws(NetError) -> T) throws(AgentHubError) -> T {
        do throws(NetError) { return try body() } catch { throw .network(step: step(), error) }
    }
}
