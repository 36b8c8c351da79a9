import Foundation
import Testing
@testable import AirlockNet

/// Privileged: real namespaces, veths and sockets. Every test works under its own random prefix,
/// only inside namespaces it created, only with 169.254.0.0/16, and sweeps on every exit path.
@Suite(.enabled(if: Privileged.shouldRun, Comment(rawValue: Privileged.missing ?? "")))
struct NetworkNamespaceTests {
    @Test func runEntersTheNamespaceOnlyOnItsOwnThread() throws {
        try Privileged.requirePrivilege()
        let s = Scratch(); defer { s.finish() }
        let ns = try NetworkNamespace.create(name: s.prefix + "r")
        let before = try threadNamespace()
        let inside = try ns.run { try threadNamespace() }
        #expect(inside == ns.id.inode)
        #expect(try threadNamespace() == before, "the calling thread must never change namespace")
        #expect(before == (try NetworkNamespace.ofProcess().id.inode))
        struct Marker: Error {}
        #expect(throws: Marker.self) { try ns.run { throw Marker() } }
        #expect(try ns.run { 42 } == 42)
        #expect(try !ns.isHost())
        #expect(try NetworkNamespace.ofProcess().isHost())
        // PID 1 is not inspectable on every machine (a non-dumpable init answers EACCES).
        if let host = try? NetworkNamespace.host() { #expect(try host.isHost()) }
        #expect(try NetworkNamespace.open(pid: getpid()).isHost())
        #expect(try NetworkNamespace.open(name: s.prefix + "r").id == ns.id)
        // A fresh namespace holds only lo, down.
        let links = try ns.links()
        #expect(links.map(\.name) == ["lo"] && links.allSatisfy { !$0.isUp })
        try ns.bringLoopbackUp()
        #expect(try ns.link(named: "lo")?.isUp == true)
    }

    @Test func vethBetweenTwoNamespacesCarriesTCP() throws {
        try Privileged.requirePrivilege()
        let s = Scratch(); defer { s.finish() }
        let hubName = s.prefix + "hub", agentName = s.prefix + "a0"
        let hub = try NetworkNamespace.create(name: hubName)
        let agent = try NetworkNamespace.create(name: agentName)
        #expect(try NetworkNamespace.list(prefix: s.prefix) == [agentName, hubName])
        let listed = try Shell.run("ip", "netns", "list")
        #expect(listed.contains(hubName) && listed.contains(agentName), "\(listed)")

        try hub.harden(); try agent.harden()
        let pair = try #require(LinkLocalPair(index: Int.random(in: 0..<LinkLocalPair.capacity)))
        let hubIf = s.prefix + "h", agentIf = s.prefix + "g"
        try hub.createVeth(name: hubIf, peerName: agentIf, peerNamespace: agent)
        try hub.addAddress(pair.hub, prefixLength: LinkLocalPair.prefixLength, to: hubIf)
        try agent.addAddress(pair.agent, prefixLength: LinkLocalPair.prefixLength, to: agentIf)
        for (ns, name) in [(hub, hubIf), (agent, agentIf)] {
            try ns.setLinkUp(name); try ns.bringLoopbackUp(); try ns.harden()
        }

        // What the kernel shows, through our API and through iproute2.
        let hubLinks = try hub.links()
        #expect(hubLinks.map(\.name) == ["lo", hubIf])
        #expect(hubLinks.allSatisfy(\.isUp) && hubLinks.last?.kind == "veth")
        #expect(try agent.links().map(\.name) == ["lo", agentIf])
        let hubAddr = try Shell.run("ip", "-n", hubName, "addr", "show", "dev", hubIf)
        #expect(hubAddr.contains("inet \(pair.hub)/31"), "\(hubAddr)")
        let agentAddr = try Shell.run("ip", "-n", agentName, "addr")
        #expect(agentAddr.contains("inet \(pair.agent)/31"), "\(agentAddr)")
        #expect(!agentAddr.contains("inet6"), "IPv6 must be off: \(agentAddr)")

        // Sockets keep the namespace they were made in: listen in the hub, dial from the agent,
        // both used afterwards from this (root-namespace) thread.
        let (listener, port) = try hub.run { try TCP.listen(on: pair.hub) }
        defer { close(listener) }
        let client = try agent.run { try TCP.socket() }
        defer { close(client) }
        try TCP.connect(client, to: pair.hub, port: port)
        let served = accept(listener, nil, nil)
        try #require(served >= 0, "accept: \(errno)")
        defer { close(served) }
        #expect(TCP.send(client, "ping") && TCP.receive(served, 4) == "ping")
        #expect(TCP.send(served, "pong") && TCP.receive(client, 4) == "pong")
        // The agent side saw its own link-local address as source.
        #expect(try TCP.localAddress(client) == pair.agent)

        // Teardown: deleting the hub end removes the agent end too; then the namespaces.
        try hub.deleteLink(hubIf)
        try agent.waitUntilLinkGone(agentIf)
        try hub.waitUntilLinkGone(hubIf)
        try NetworkNamespace.delete(name: hubName)
        try NetworkNamespace.delete(name: agentName)
        try NetworkNamespace.waitUntilGone(name: hubName)
        try NetworkNamespace.waitUntilGone(name: agentName)
        #expect(!(try Shell.run("ip", "netns", "list")).contains(s.prefix))
    }

    @Test func hardenedSysctlsReadBack() throws {
        try Privileged.requirePrivilege()
        let s = Scratch(); defer { s.finish() }
        let name = s.prefix + "s"
        let ns = try NetworkNamespace.create(name: name)
        // Deliberately loosen first, so the test fails if harden() leaves a value untouched.
        try ns.writeSysctl("ipv4/ip_forward", "1")
        try ns.writeSysctl("ipv4/conf/all/rp_filter", "0")
        try ns.writeSysctl("ipv6/conf/default/disable_ipv6", "0")
        try ns.createVeth(name: s.prefix + "x", peerName: s.prefix + "y", peerNamespace: ns)
        try ns.harden()
        var expected = ["ipv4/ip_forward": "0"]
        for conf in ["all", "default", "lo", s.prefix + "x", s.prefix + "y"] {
            expected["ipv4/conf/\(conf)/forwarding"] = "0"
            expected["ipv4/conf/\(conf)/rp_filter"] = "1"
            expected["ipv6/conf/\(conf)/disable_ipv6"] = "1"
        }
        for (key, value) in expected {
            #expect(try ns.readSysctl(key) == value, "\(key)")
            let seen = try Shell.run("ip", "netns", "exec", name, "cat", "/proc/sys/net/" + key)
            #expect(seen.trimmingCharacters(in: .whitespacesAndNewlines) == value, "\(key) via ip netns exec")
        }
        // The host's values are untouched by what we did inside (read on this thread, in the host).
        #expect(try NetworkNamespace.ofProcess().readSysctl("ipv4/ip_forward") == (try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines))
        // Fail closed: a write that cannot happen is an error.
        #expect(throws: NetError.self) { try ns.harden(interfaces: [s.prefix + "nope"]) }
        #expect(throws: NetError.self) { try ns.writeSysctl("ipv4/no_such_key", "1") }
    }

    @Test func moveLinkThenDeleteRemovesThePeer() throws {
        try Privileged.requirePrivilege()
        let s = Scratch(); defer { s.finish() }
        let a = try NetworkNamespace.create(name: s.prefix + "ma")
        let b = try NetworkNamespace.create(name: s.prefix + "mb")
        try a.createVeth(name: s.prefix + "p", peerName: s.prefix + "q", peerNamespace: a)
        #expect(try a.links().map(\.name).sorted() == ["lo", s.prefix + "p", s.prefix + "q"].sorted())
        try a.moveLink(s.prefix + "q", to: b)
        #expect(try a.link(named: s.prefix + "q") == nil)
        #expect(try b.link(named: s.prefix + "q")?.kind == "veth")
        try a.deleteLink(s.prefix + "p")
        try b.waitUntilLinkGone(s.prefix + "q")
    }

    @Test func deadNamespaceTakesItsVethEndAlong() throws {
        try Privileged.requirePrivilege()
        let s = Scratch(); defer { s.finish() }
        let hub = try NetworkNamespace.create(name: s.prefix + "dh")
        do {
            let agent = try NetworkNamespace.create(name: s.prefix + "da")
            try hub.createVeth(name: s.prefix + "h", peerName: s.prefix + "g", peerNamespace: agent)
            #expect(try agent.link(named: s.prefix + "g") != nil)
        }  // our descriptor on the agent namespace is closed here
        try NetworkNamespace.delete(name: s.prefix + "da")
        try hub.waitUntilLinkGone(s.prefix + "h", timeoutMilliseconds: 10_000)
    }

    @Test func sweepRemovesStaleNamespacesAndLinks() throws {
        try Privileged.requirePrivilege()
        let s = Scratch(); defer { s.finish() }
        let keep = try NetworkNamespace.create(name: s.prefix + "k")
        for i in 0..<3 { _ = try NetworkNamespace.create(name: s.prefix + "z\(i)") }
        try keep.createVeth(name: s.prefix + "v0", peerName: s.prefix + "v1", peerNamespace: keep)
        try keep.createVeth(name: s.prefix + "w0", peerName: s.prefix + "w1", peerNamespace: keep)
        let gone = try keep.deleteLinks(prefix: s.prefix + "v")
        #expect(gone.count >= 1 && gone.allSatisfy { $0.hasPrefix(s.prefix + "v") })
        try keep.waitUntilLinkGone(s.prefix + "v0"); try keep.waitUntilLinkGone(s.prefix + "v1")
        #expect(try keep.links().map(\.name).sorted() == ["lo", s.prefix + "w0", s.prefix + "w1"].sorted())
        #expect(try NetworkNamespace.sweep(prefix: s.prefix + "z") == (0..<3).map { s.prefix + "z\($0)" })
        #expect(try NetworkNamespace.list(prefix: s.prefix) == [s.prefix + "k"])
        #expect(throws: NetError.self) { try NetworkNamespace.sweep(prefix: "") }
        #expect(throws: NetError.self) { try keep.deleteLinks(prefix: "") }
    }

    @Test func duplicatesAndMissingObjectsAreTypedErrors() throws {
        try Privileged.requirePrivilege()
        let s = Scratch(); defer { s.finish() }
        let ns = try NetworkNamespace.create(name: s.prefix + "e")
        #expect(errorOf { _ = try NetworkNamespace.create(name: s.prefix + "e") }?.isExists == true)
        #expect(errorOf { _ = try NetworkNamespace.open(name: s.prefix + "missing") }?.isNotFound == true)
        #expect(errorOf { try NetworkNamespace.delete(name: s.prefix + "missing") }?.isNotFound == true)
        #expect(errorOf { try ns.deleteLink(s.prefix + "nolink") }?.isNotFound == true)
        #expect(errorOf { try ns.setLinkUp(s.prefix + "nolink") }?.isNotFound == true)
        try ns.createVeth(name: s.prefix + "d0", peerName: s.prefix + "d1", peerNamespace: ns)
        #expect(errorOf { try ns.createVeth(name: s.prefix + "d0", peerName: s.prefix + "d2", peerNamespace: ns) }?.isExists == true)
        #expect(errorOf { try ns.createVeth(name: "alt" + String(repeating: "x", count: 13), peerName: "y", peerNamespace: ns) } == .invalidName("alt" + String(repeating: "x", count: 13), reason: "interface name longer than 15 bytes"))
        #expect(errorOf { try ns.addAddress(IPv4Address(169, 254, 1, 0), prefixLength: 33, to: s.prefix + "d0") } != nil)
        #expect(!NetworkNamespace.exists(name: s.prefix + "missing") && NetworkNamespace.exists(name: s.prefix + "e"))
        #expect(throws: NetError.self) { try NetworkNamespace.waitUntilGone(name: s.prefix + "e", timeoutMilliseconds: 30) }
        // A failed create leaves nothing behind.
        #expect(try NetworkNamespace.list(prefix: s.prefix) == [s.prefix + "e"])
    }

    // MARK: Helpers

    /// The inode of the calling thread's network namespace.
    func threadNamespace() throws -> UInt64 {
        var st = stat()
        guard stat("/proc/thread-self/ns/net", &st) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
        return UInt64(st.st_ino)
    }

    /// The NetError `body` throws, or nil when it succeeds.
    func errorOf(_ body: () throws -> Void) -> NetError? {
        do { try body(); return nil } catch let e as NetError { return e } catch {
            Issue.record("not a NetError: \(error)"); return nil
        }
    }
}
