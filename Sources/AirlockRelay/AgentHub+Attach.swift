import AirlockCore
import AirlockIO
import AirlockNet

extension AgentHub {
    /// Wires agent `name` to the hub and starts its listener; returns what was built.
    ///
    /// With `netns` nil the hub creates the namespace `<prefix>-<name>` (and deletes it on
    /// `detach`). Given a namespace, it must hold nothing but `lo` and must not be the host's,
    /// the hub's or another agent's; it is left in place on `detach`.
    ///
    /// Steps: harden the agent namespace (so the veth is born with IPv6 off), create the veth
    /// `<prefix>h<i>` in the hub with its peer `<prefix>a<i>` made directly inside the agent
    /// namespace, add the /31 of `LinkLocalPair(index: i)` on both ends, bring them and the
    /// agent's `lo` up, harden both namespaces again, let unprivileged users bind ports from
    /// `unprivilegedPortStart` up in the agent namespace (the shim's DNS stub), and listen on `hubAddress:port` from inside
    /// the hub, bound to the hub end (SO_BINDTODEVICE). No default route is ever added: the
    /// agent reaches only its /31 peer. The listener admits only `peer`; any other proven
    /// identity is logged (`agent_peer_refused`) and closed before a stream runs.
    ///
    /// Fails closed: on any error every step already made is undone before throwing.
    ///
    /// `agentAddress` asks for the pair whose agent side it is (a run reattached after a relay
    /// restart keeps the address its shim dials); otherwise the first free pair is used.
    @discardableResult
    public func attach(name: String, peer: PeerID, netns: NetworkNamespace? = nil,
                       agentAddress: IPv4Address? = nil) throws(AgentHubError) -> AgentLink {
        guard let hub else { throw .notStarted }
        try Self.validate(agentName: name)
        guard attached[name] == nil else { throw .alreadyAttached(name) }
        let index: Int
        if let agentAddress {
            guard let i = LinkLocalPair.index(containing: agentAddress), LinkLocalPair(index: i)?.agent == agentAddress else {
                throw .invalidName("\(agentAddress)", reason: "not the agent side of a link-local pair")
            }
            if let other = attached.values.first(where: { $0.index == i }) { throw .addressInUse(agentAddress, by: other.link.name) }
            index = i
        } else {
            let used = Set(attached.values.map(\.index))
            guard let free = (0..<LinkLocalPair.capacity).first(where: { !used.contains($0) }) else { throw .noFreeAddress }
            index = free
        }
        guard let pair = LinkLocalPair(index: index) else { throw .noFreeAddress }
        if let netns { try checkOffered(netns, hub: hub) }

        let hubIf = prefix + "h\(index)", agentIf = prefix + "a\(index)"
        var undo: [() -> Void] = []
        do throws(AgentHubError) {
            let ns: NetworkNamespace
            if let netns { ns = netns } else {
                let nsName = prefix + "-" + name
                ns = try Self.net("create agent namespace \(nsName)") { () throws(NetError) in
                    try NetworkNamespace.create(name: nsName)
                }
                let timeout = teardownTimeoutMilliseconds
                undo.append {
                    try? NetworkNamespace.delete(name: nsName)
                    try? NetworkNamespace.waitUntilGone(name: nsName, timeoutMilliseconds: timeout)
                }
            }
            let label = ns.name ?? ns.description
            try Self.net("harden agent namespace \(label)") { () throws(NetError) in try ns.harden() }
            try Self.net("create veth \(hubIf)/\(agentIf)") { () throws(NetError) in
                try hub.createVeth(name: hubIf, peerName: agentIf, peerNamespace: ns)
            }
            let timeout = teardownTimeoutMilliseconds
            undo.append {
                try? hub.deleteLink(hubIf)
                try? hub.waitUntilLinkGone(hubIf, timeoutMilliseconds: timeout)
            }
            try Self.net("configure \(hubIf)/\(agentIf)") { () throws(NetError) in
                // Per-interface sysctls before the links go up: no IPv6 link-local address is ever made.
                try hub.harden(interfaces: [hubIf])
                try ns.harden()
                try hub.addAddress(pair.hub, prefixLength: LinkLocalPair.prefixLength, to: hubIf)
                try ns.addAddress(pair.agent, prefixLength: LinkLocalPair.prefixLength, to: agentIf)
                try ns.bringLoopbackUp()
                try ns.setLinkUp(agentIf)
                try hub.setLinkUp(hubIf)
                try hub.harden(interfaces: [hubIf])
                try ns.harden()
                // The shim (unprivileged) serves the DNS stub on 127.0.0.1:53. Only this
                // namespace's ports move; it reaches nothing but the relay either way.
                try ns.writeSysctl("ipv4/ip_unprivileged_port_start", "\(Self.unprivilegedPortStart)")
            }
            let listener = try listen(in: hub, on: pair.hub, device: hubIf)
            undo.append { listener.close() }
            let link = AgentLink(name: name, netnsName: netns == nil ? prefix + "-" + name : ns.name,
                                 ownsNamespace: netns == nil, hubAddress: pair.hub, agentAddress: pair.agent,
                                 port: port, peer: peer, hubInterface: hubIf, agentInterface: agentIf)
            let a = Attachment(link: link, index: index, namespace: ns, listener: listener)
            do throws(Errno) {
                try host.adopt(listener: listener) { [weak self, weak a] c in
                    guard let self, let a else { return false }
                    return self.admit(c, to: a)
                }
            } catch { throw .socket(step: "serve listener of agent \(name)", error) }
            attached[name] = a
            logger.info("agent_attached", ["agent": name, "netns": link.netnsName ?? label, "hub_addr": pair.hub,
                                           "agent_addr": pair.agent, "port": port, "peer": peer])
            return link
        } catch {
            for step in undo.reversed() { step() }
            logger.warn("agent_attach_failed", ["agent": name, "reason": error.description])
            throw error
        }
    }

    /// Removes agent `name`: closes its listener and the connections admitted on it, deletes the
    /// veth (both ends go with the hub end) and, when the hub created it, the namespace, polling
    /// until each is gone. Unknown names are ignored, so it is idempotent. A namespace handed to
    /// `attach` stays, holding only what it held before. Keeps going past failures, throws the first.
    public func detach(name: String) throws(AgentHubError) {
        guard let a = attached.removeValue(forKey: name) else { return }
        a.listener.close()
        for id in a.connections.sorted() { host.connection(id: id)?.close(reason: "agent \(name) detached") }
        let link = a.link
        var first: AgentHubError?
        func note(_ body: () throws(AgentHubError) -> Void) {
            do throws(AgentHubError) { try body() } catch { if first == nil { first = error } }
        }
        let timeout = teardownTimeoutMilliseconds
        if let hub {
            note { () throws(AgentHubError) in
                try Self.net("delete veth \(link.hubInterface)") { () throws(NetError) in
                    do throws(NetError) { try hub.deleteLink(link.hubInterface) } catch where error.isNotFound {}
                    try hub.waitUntilLinkGone(link.hubInterface, timeoutMilliseconds: timeout)
                }
            }
        }
        if link.ownsNamespace, let nsName = link.netnsName {
            note { () throws(AgentHubError) in
                try Self.net("delete agent namespace \(nsName)") { () throws(NetError) in
                    do throws(NetError) { try NetworkNamespace.delete(name: nsName) } catch where error.isNotFound {}
                    try NetworkNamespace.waitUntilGone(name: nsName, timeoutMilliseconds: timeout)
                }
            }
        } else {
            note { () throws(AgentHubError) in
                try Self.net("wait for \(link.agentInterface) to leave \(link.netnsName ?? "the agent namespace")") { () throws(NetError) in
                    try a.namespace.waitUntilLinkGone(link.agentInterface, timeoutMilliseconds: timeout)
                }
            }
        }
        logger.info("agent_detached", ["agent": name, "reason": first?.description ?? "ok"])
        if let first { throw first }
    }

    // MARK: steps

    /// `net.ipv4.ip_unprivileged_port_start` in every agent namespace: 53, so the shim, which
    /// runs without capabilities, can bind the DNS stub's port.
    public static let unprivilegedPortStart = 53

    /// Refuses a namespace that is the host's, the hub's, another agent's, or holds more than `lo`.
    private func checkOffered(_ ns: NetworkNamespace, hub: NetworkNamespace) throws(AgentHubError) {
        let label = ns.name ?? ns.description
        let isHost = try Self.net("inspect \(label)") { () throws(NetError) in try ns.isHost() }
        if isHost { throw .hostNamespace(label) }
        if ns.id == hub.id { throw .namespaceInUse(label, by: "the hub") }
        if let other = attached.values.first(where: { $0.namespace.id == ns.id }) {
            throw .namespaceInUse(label, by: "agent \(other.link.name)")
        }
        let names = try Self.net("list interfaces of \(label)") { () throws(NetError) in try ns.links().map(\.name) }
        let extra = names.filter { $0 != "lo" }.sorted()
        if !extra.isEmpty { throw .namespaceNotEmpty(label, interfaces: extra) }
    }

    /// Creates the agent's listening socket inside the hub namespace (where it stays), bound to
    /// `address:port` and to `device`, and registers it on the host's loop.
    private func listen(in hub: NetworkNamespace, on address: IPv4Address, device: String) throws(AgentHubError) -> TCPListener {
        let bindAddress = SocketAddress(ip: .v4(address.value), port: port)
        let backlog = listenBacklog
        let made: Result<Socket, Errno>
        do {
            made = try hub.run { () -> Result<Socket, Errno> in
                do throws(Errno) { return .success(try Socket.listenTCP(on: bindAddress, backlog: backlog, device: device)) } catch {
                    return .failure(error)
                }
            }
        } catch {
            // `run` throws only NetError (thread start or setns) for a body that does not throw.
            let e = error as? NetError ?? .invalidName(hubNamespaceName, reason: "\(error)")
            throw .network(step: "enter the hub to listen on \(bindAddress)", e)
        }
        let socket: Socket
        switch made {
        case .success(let s): socket = s
        case .failure(let e): throw .socket(step: "listen on \(bindAddress) dev \(device)", e)
        }
        do throws(Errno) { return try TCPListener(socket: socket, loop: host.loop) } catch {
            throw .socket(step: "register listener \(bindAddress)", error)
        }
    }

    /// Admission on an agent listener: exactly the registered identity (design §2 invariant 3).
    private func admit(_ c: Libp2pConnection, to a: Attachment) -> Bool {
        let link = a.link
        guard c.remotePeer == link.peer else {
            logger.warn("agent_peer_refused", ["agent": link.name, "peer": c.remotePeer, "expected": link.peer,
                                               "conn": c.id, "reason": "identity not registered for this link"])
            return false
        }
        a.connections = a.connections.filter { host.connection(id: $0) != nil }
        a.connections.insert(c.id)
        logger.info("agent_connected", ["agent": link.name, "peer": c.remotePeer, "conn": c.id])
        return true
    }
}
