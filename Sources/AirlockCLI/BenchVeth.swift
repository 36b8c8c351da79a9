#if canImport(Glibc)
import Glibc
#endif
import AirlockNet

/// The ceiling for the agent's hop: raw TCP over a veth between two namespaces the bench makes
/// with the product's own code (`AirlockNet`, libnl), as the hub links an agent: `abenchn-PID-a`
/// holds `abenchv0` (169.254.254.254/31), `abenchn-PID-b` its peer `abenchv1` (169.254.254.255/31),
/// link-local addresses that lead nowhere else. A sender in one and a receiver in the other move
/// the pattern; their CPU time per GiB is one veth hop. Both namespaces (and so the veth) are
/// deleted afterwards, on failure too; SIGINT goes through `BenchCleanup`.
enum BenchVeth {
    static let namespaces = ["\(BenchCleanup.prefix)-a", "\(BenchCleanup.prefix)-b"]
    /// Inside the bench's own two namespaces only, so fixed names cannot collide.
    static let links = ["abenchv0", "abenchv1"]

    static func measure(bytes: Int) throws -> BenchSendReceive.Measurement {
        let pair = LinkLocalPair(index: LinkLocalPair.capacity - 1)!
        var made: [NetworkNamespace] = []
        defer {
            for ns in namespaces {
                try? NetworkNamespace.delete(name: ns)
                BenchCleanup.shared.remove(namespace: ns)
            }
            // The veth goes with the last reference to its namespace.
            if let a = made.first { _ = try? a.waitUntilLinkGone(links[0]) }
        }
        do { try build(pair, &made) } catch {
            throw CommandFailure("bench: cannot build the veth between two namespaces: \(error)")
        }
        let (a, b) = (made[0], made[1])
        let listener = try b.run { () throws -> Int32 in
            let fd = try BenchSendReceive.socket()
            do { _ = try BenchSendReceive.listen(fd, ip: pair.agent.value) } catch { close(fd); throw error }
            return fd
        }
        defer { close(listener) }
        let port = try BenchSendReceive.localPort(listener)
        // The link may still be settling: retry briefly, each time with a fresh socket.
        var sender: Int32 = -1
        for attempt in 1...50 {
            let fd = try a.run { try BenchSendReceive.socket() }
            do { try BenchSendReceive.connect(fd, ip: pair.agent.value, port: port); sender = fd; break } catch {
                close(fd)
                if attempt == 50 { throw error }
                usleep(20_000)
            }
        }
        defer { close(sender) }
        let receiver = try BenchSendReceive.accept(listener, timeout: 10)
        defer { close(receiver) }
        return try BenchSendReceive.run(senderFD: sender, receiverFD: receiver, bytes: bytes, what: "the veth")
    }

    /// Both namespaces (appended to `made` as they come), the veth, addresses, links up.
    private static func build(_ pair: LinkLocalPair, _ made: inout [NetworkNamespace]) throws {
        for ns in namespaces {
            BenchCleanup.shared.add(namespace: ns)
            made.append(try NetworkNamespace.create(name: ns))
        }
        let (a, b) = (made[0], made[1])
        try a.createVeth(name: links[0], peerName: links[1], peerNamespace: b)
        try a.addAddress(pair.hub, prefixLength: LinkLocalPair.prefixLength, to: links[0])
        try b.addAddress(pair.agent, prefixLength: LinkLocalPair.prefixLength, to: links[1])
        for (ns, link) in [(a, links[0]), (b, links[1])] {
            try ns.bringLoopbackUp()
            try ns.setLinkUp(link)
        }
    }
}
