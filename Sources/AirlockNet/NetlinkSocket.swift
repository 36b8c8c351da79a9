#if canImport(Glibc)
import Glibc
#endif
internal import CNetlink

/// A libnl route socket. It talks to the namespace it was created in, so it is created, used and
/// freed on one namespace thread (`NetworkNamespace.withNetlink`). Not Sendable on purpose.
final class NetlinkSocket {
    private let sock: OpaquePointer
    private let label: String

    /// IFF_UP from <net/if.h>.
    private static let iffUp: UInt32 = 0x1

    init(context: String) throws(NetError) {
        guard let s = nl_socket_alloc() else {
            throw .netlink(NetlinkError(returned: -NLE_NOMEM, "socket alloc in \(context)"))
        }
        let rc = nl_connect(s, NETLINK_ROUTE)
        if rc < 0 {
            nl_socket_free(s)
            throw .netlink(NetlinkError(returned: rc, "connect in \(context)"))
        }
        sock = s; label = context
    }

    deinit { nl_socket_free(sock) }

    private func check(_ rc: Int32, _ what: @autoclosure () -> String) throws(NetError) {
        if rc < 0 { throw .netlink(NetlinkError(returned: rc, "\(what()) in \(label)")) }
    }

    // MARK: Reading

    /// Every link in the namespace, by index.
    func links() throws(NetError) -> [LinkInfo] {
        var cache: OpaquePointer?
        try check(rtnl_link_alloc_cache(sock, AF_UNSPEC, &cache), "list links")
        defer { nl_cache_free(cache) }
        var out: [LinkInfo] = []
        var obj = nl_cache_get_first(cache)
        while let o = obj {
            out.append(Self.info(o))
            obj = nl_cache_get_next(o)
        }
        return out.sorted { $0.index < $1.index }
    }

    /// The link named `name`, or nil when there is none.
    func link(named name: String) throws(NetError) -> LinkInfo? {
        guard let link = try kernelLink(name) else { return nil }
        defer { rtnl_link_put(link) }
        return Self.info(link)
    }

    /// Fetches a link from the kernel; nil when absent. The caller puts the reference.
    private func kernelLink(_ name: String) throws(NetError) -> OpaquePointer? {
        var link: OpaquePointer?
        let rc = rtnl_link_get_kernel(sock, 0, name, &link)
        if rc < 0 {
            let e = NetlinkError(returned: rc, "get link \(name) in \(label)")
            if e.isNotFound { return nil }
            throw .netlink(e)
        }
        return link
    }

    private func requireLink(_ name: String) throws(NetError) -> OpaquePointer {
        guard let link = try kernelLink(name) else {
            throw .netlink(NetlinkError(returned: -NLE_OBJ_NOTFOUND, "link \(name) in \(label)"))
        }
        return link
    }

    private static func info(_ link: OpaquePointer) -> LinkInfo {
        let name = rtnl_link_get_name(link).map { String(cString: $0) } ?? ""
        let kind = rtnl_link_get_type(link).map { String(cString: $0) }
        return LinkInfo(index: Int32(rtnl_link_get_ifindex(link)), name: name,
                        isUp: rtnl_link_get_flags(link) & UInt32(iffUp) != 0, kind: kind)
    }

    // MARK: Changing

    /// Creates a veth pair: `name` in this socket's namespace, `peerName` created directly in the
    /// namespace `peerNamespaceFD` refers to (IFLA_NET_NS_FD inside the peer's attributes).
    func addVeth(name: String, peerName: String, peerNamespaceFD: Int32) throws(NetError) {
        guard let link = rtnl_link_veth_alloc() else {
            throw .netlink(NetlinkError(returned: -NLE_NOMEM, "veth alloc"))
        }
        defer { rtnl_link_veth_release(link) }
        rtnl_link_set_name(link, name)
        let peer = rtnl_link_veth_get_peer(link)
        rtnl_link_set_name(peer, peerName)
        rtnl_link_set_ns_fd(peer, peerNamespaceFD)
        rtnl_link_put(peer)  // get_peer took a reference; the pair is released with `link`
        try check(rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL), "add veth \(name)/\(peerName)")
    }

    /// Sets IFF_UP on `name`.
    func setUp(_ name: String) throws(NetError) {
        let link = try requireLink(name)
        defer { rtnl_link_put(link) }
        guard let change = rtnl_link_alloc() else { throw .netlink(NetlinkError(returned: -NLE_NOMEM, "link alloc")) }
        defer { rtnl_link_put(change) }
        rtnl_link_set_flags(change, Self.iffUp)
        try check(rtnl_link_change(sock, link, change, 0), "set \(name) up")
    }

    /// Moves `name` into the namespace `fd` refers to.
    func move(_ name: String, toNamespaceFD fd: Int32) throws(NetError) {
        let link = try requireLink(name)
        defer { rtnl_link_put(link) }
        guard let change = rtnl_link_alloc() else { throw .netlink(NetlinkError(returned: -NLE_NOMEM, "link alloc")) }
        defer { rtnl_link_put(change) }
        rtnl_link_set_ns_fd(change, fd)
        try check(rtnl_link_change(sock, link, change, 0), "move \(name)")
    }

    /// Deletes link `name` (for a veth, the kernel deletes its peer too).
    func delete(_ name: String) throws(NetError) {
        guard let link = rtnl_link_alloc() else { throw .netlink(NetlinkError(returned: -NLE_NOMEM, "link alloc")) }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try check(rtnl_link_delete(sock, link), "delete link \(name)")
    }

    /// Adds `address/prefixLength` to link `name`.
    func addAddress(_ address: IPv4Address, prefixLength: Int, to name: String) throws(NetError) {
        let link = try requireLink(name)
        let index = rtnl_link_get_ifindex(link)
        rtnl_link_put(link)
        guard let addr = rtnl_addr_alloc() else { throw .netlink(NetlinkError(returned: -NLE_NOMEM, "addr alloc")) }
        defer { rtnl_addr_put(addr) }
        var bytes = address.bytes
        guard let local = nl_addr_build(AF_INET, &bytes, 4) else {
            throw .netlink(NetlinkError(returned: -NLE_NOMEM, "addr build"))
        }
        defer { nl_addr_put(local) }
        nl_addr_set_prefixlen(local, Int32(prefixLength))
        rtnl_addr_set_ifindex(addr, index)
        rtnl_addr_set_family(addr, AF_INET)
        try check(rtnl_addr_set_local(addr, local), "set local \(address)")
        rtnl_addr_set_prefixlen(addr, Int32(prefixLength))
        try check(rtnl_addr_add(sock, addr, 0), "add \(address)/\(prefixLength) to \(name)")
    }
}
