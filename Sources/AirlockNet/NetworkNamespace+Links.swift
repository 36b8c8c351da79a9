/// Links and addresses, all through libnl on a netlink socket opened inside the namespace
/// (`withNetlink`), so nothing ever touches the caller's namespace.
extension NetworkNamespace {
    /// Every interface in this namespace, by index.
    public func links() throws(NetError) -> [LinkInfo] {
        try withNetlink { (s) throws(NetError) in try s.links() }
    }

    /// The interface named `name` in this namespace, or nil.
    public func link(named name: String) throws(NetError) -> LinkInfo? {
        try LinkInfo.validate(name: name)
        return try withNetlink { (s) throws(NetError) in try s.link(named: name) }
    }

    /// Creates a veth pair: `name` in this namespace, `peerName` created directly inside
    /// `peerNamespace` (never passing through any other namespace). Both ends start down.
    /// Throws `isExists` when either name is taken in its namespace.
    public func createVeth(name: String, peerName: String, peerNamespace: NetworkNamespace) throws(NetError) {
        try LinkInfo.validate(name: name)
        try LinkInfo.validate(name: peerName)
        let peerFD = peerNamespace.descriptor
        try withExtendedLifetime(peerNamespace) { () throws(NetError) in
            try withNetlink { (s) throws(NetError) in
                try s.addVeth(name: name, peerName: peerName, peerNamespaceFD: peerFD)
            }
        }
    }

    /// Sets the interface `name` administratively up.
    public func setLinkUp(_ name: String) throws(NetError) {
        try LinkInfo.validate(name: name)
        try withNetlink { (s) throws(NetError) in try s.setUp(name) }
    }

    /// Brings `lo` up (a fresh namespace has it down, so even 127.0.0.1 is unreachable).
    public func bringLoopbackUp() throws(NetError) { try setLinkUp("lo") }

    /// Adds the IPv4 address `address/prefixLength` (0…32) to interface `name`.
    public func addAddress(_ address: IPv4Address, prefixLength: Int, to name: String) throws(NetError) {
        try LinkInfo.validate(name: name)
        guard (0...32).contains(prefixLength) else {
            throw .invalidName("\(address)/\(prefixLength)", reason: "IPv4 prefix length out of 0...32")
        }
        try withNetlink { (s) throws(NetError) in try s.addAddress(address, prefixLength: prefixLength, to: name) }
    }

    /// Moves interface `name` from this namespace into `target`.
    public func moveLink(_ name: String, to target: NetworkNamespace) throws(NetError) {
        try LinkInfo.validate(name: name)
        let fd = target.descriptor
        try withExtendedLifetime(target) { () throws(NetError) in
            try withNetlink { (s) throws(NetError) in try s.move(name, toNamespaceFD: fd) }
        }
    }

    /// Deletes interface `name`; for a veth the kernel removes the peer too, asynchronously
    /// (`waitUntilLinkGone`). Throws `isNotFound` when there is no such interface.
    public func deleteLink(_ name: String) throws(NetError) {
        try LinkInfo.validate(name: name)
        try withNetlink { (s) throws(NetError) in try s.delete(name) }
    }

    /// Waits (polling every 10 ms, at most `timeoutMilliseconds`) until no interface `name` exists
    /// here. Also the way to learn that a peer namespace was freed: its veth end here disappears.
    public func waitUntilLinkGone(_ name: String, timeoutMilliseconds: Int = 2000) throws(NetError) {
        try LinkInfo.validate(name: name)
        try withNetlink { (s) throws(NetError) in
            try Poll.until("link \(name) gone from \(label)", timeoutMilliseconds: timeoutMilliseconds) {
                () throws(NetError) -> Bool in try s.link(named: name) == nil
            }
        }
    }

    /// Deletes every interface here whose name starts with `prefix` (stale ones from a crashed
    /// run) and returns their names. An empty prefix is refused. Links already gone (a veth whose
    /// peer was deleted first) are not errors.
    @discardableResult
    public func deleteLinks(prefix: String) throws(NetError) -> [String] {
        guard !prefix.isEmpty else { throw .invalidName(prefix, reason: "sweep needs a non-empty prefix") }
        return try withNetlink { (s) throws(NetError) -> [String] in
            var deleted: [String] = []
            for link in try s.links() where link.name.hasPrefix(prefix) {
                do throws(NetError) { try s.delete(link.name); deleted.append(link.name) } catch {
                    if !error.isNotFound { throw error }
                }
            }
            return deleted
        }
    }
}
