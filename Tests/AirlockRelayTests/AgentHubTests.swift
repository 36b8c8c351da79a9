#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockNet
@testable import AirlockRelay

/// Names, validated without privileges.
struct AgentHubNameTests {
    @Test func prefixesAreShortLowercaseAndDashFree() throws {
        #expect(AgentHub.maxPrefixLength == 9, "<prefix>h<5 digits> must fit 15 bytes")
        for ok in ["t", "airlock", "t1a2b3", "abcdefghi"] { #expect(throws: Never.self) { try AgentHub.validate(prefix: ok) } }
        for bad in ["", "abcdefghij", "Air", "1abc", "a-b", "a_b", "a b", "ä"] {
            #expect(throws: AgentHubError.self, "\(bad)") { try AgentHub.validate(prefix: bad) }
        }
        let host = AirlockIO.Host(loop: try EventLoop(), identity: Ed25519PrivateKey())
        #expect(throws: AgentHubError.self) { try AgentHub(prefix: "t", host: host, port: 0, logger: .silent) }
    }

    @Test func agentNamesAreLowercaseWithInnerDashes() {
        for ok in ["a", "agent-1", "0", String(repeating: "x", count: AgentHub.maxNameLength)] {
            #expect(throws: Never.self) { try AgentHub.validate(agentName: ok) }
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a/b", "a b", "hub", String(repeating: "x", count: AgentHub.maxNameLength + 1)] {
            #expect(throws: AgentHubError.self, "\(bad)") { try AgentHub.validate(agentName: bad) }
        }
    }
}

/// Privileged: a real hub and agent namespaces under a random per-test prefix, swept on every
/// exit path (`HubRig.finish`).
@Suite(.serialized, .enabled(if: HubPrivilege.shouldRun, Comment(rawValue: HubPrivilege.missing ?? "")))
struct AgentHubTests {
    @Test func startMakesAHardenedHubAndStopRemovesIt() async throws {
        try HubPrivilege.require()
        let rig = try await HubRig(); defer { rig.finish() }
        try await rig.hub { try $0.start() }
        #expect(try IPTool.run("ip", "netns", "list").contains(rig.hubName))
        let hub = try NetworkNamespace.open(name: rig.hubName)
        try HubRig.expectHardened(hub, interfaces: ["lo"])
        #expect(try hub.links().map { "\($0.name) \($0.isUp)" } == ["lo true"])
        await #expect(throws: AgentHubError.alreadyStarted) { try await rig.hub { try $0.start() } }

        try await rig.hub { try $0.stop() }
        #expect(!(try IPTool.run("ip", "netns", "list")).contains(rig.prefix))
        try await rig.hub { try $0.stop() }  // idempotent
        let peer = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        await #expect(throws: AgentHubError.notStarted) { try await rig.hub { try $0.attach(name: "a", peer: peer) } }
    }

    @Test func startSweepsWhatACrashedRelayLeft() async throws {
        try HubPrivilege.require()
        let rig = try await HubRig(); defer { rig.finish() }
        try IPTool.run("ip", "netns", "add", rig.hubName)
        try IPTool.run("ip", "netns", "add", rig.prefix + "-old")
        let staleLink = rig.prefix + "h7"
        // A veth pair (this kernel may lack the dummy driver); both names carry the link prefix.
        try IPTool.run("ip", "link", "add", staleLink, "type", "veth", "peer", "name", rig.prefix + "h8")
        // Held open so the kernel cannot hand its inode number to the fresh hub.
        let staleHub = try NetworkNamespace.open(name: rig.hubName)
        try await rig.hub { try $0.start() }
        #expect(!NetworkNamespace.exists(name: rig.prefix + "-old"))
        #expect(try NetworkNamespace.ofProcess().link(named: staleLink) == nil)
        #expect(try NetworkNamespace.ofProcess().link(named: rig.prefix + "h8") == nil)
        #expect(try NetworkNamespace.open(name: rig.hubName).id != staleHub.id, "a fresh hub, not the stale one")
        #expect(!rig.logs.lines("hub_started", "\(rig.prefix)-old", "\(rig.prefix)h").isEmpty, "\(rig.logs.all)")
        try await rig.hub { try $0.stop() }
    }

    @Test func attachBuildsAnAgentNamespaceWithOnlyLoAndOneVeth() async throws {
        try HubPrivilege.require()
        let rig = try await HubRig(); defer { rig.finish() }
        try await rig.hub { try $0.start() }
        let peer = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        let link = try await rig.hub { try $0.attach(name: "a1", peer: peer) }
        let nsName = rig.prefix + "-a1"
        #expect(link.netnsName == nsName && link.ownsNamespace && link.port == AgentHub.defaultPort && link.peer == peer)
        #expect(link.hubAddress == LinkLocalPair(index: 0)!.hub && link.agentAddress == LinkLocalPair(index: 0)!.agent)
        #expect(link.hubInterface == rig.prefix + "h0" && link.agentInterface == rig.prefix + "a0")
        #expect(try IPTool.run("ip", "netns", "list").contains(nsName))

        // Exactly lo and the veth end with its /31; no IPv6 anywhere; only the link route.
        let links = try IPTool.lines("ip", "-n", nsName, "-o", "link")
        #expect(links.count == 2 && links[0].contains(" lo:") && links[1].contains(" \(link.agentInterface)@"), "\(links)")
        let addrs = try IPTool.lines("ip", "-n", nsName, "-o", "addr")
        #expect(addrs.count == 2, "\(addrs)")
        #expect(addrs.contains { $0.contains(" lo ") && $0.contains("inet 127.0.0.1/8") })
        #expect(addrs.contains { $0.contains(" \(link.agentInterface) ") && $0.contains("inet \(link.agentAddress)/31") })
        #expect(!addrs.contains { $0.contains("inet6") })
        let routes = try IPTool.lines("ip", "-n", nsName, "route")
        #expect(routes.count == 1 && routes[0].hasPrefix("\(link.hubAddress)/31 dev \(link.agentInterface) "), "\(routes)")
        #expect(try IPTool.lines("ip", "-n", nsName, "route", "show", "table", "all").allSatisfy { !$0.hasPrefix("default") })
        #expect(try IPTool.lines("ip", "-6", "-n", nsName, "route", "show", "table", "all").isEmpty)
        let agentNS = try NetworkNamespace.open(name: nsName)
        try HubRig.expectHardened(agentNS, interfaces: ["lo", link.agentInterface])
        #expect(try agentNS.readSysctl("ipv4/ip_unprivileged_port_start") == "53", "the shim binds the DNS stub's port 53")
        let hub = try NetworkNamespace.open(name: rig.hubName)
        #expect(try hub.readSysctl("ipv4/ip_unprivileged_port_start") == "1024", "the hub keeps the default")
        let hubAddrs = try IPTool.lines("ip", "-n", rig.hubName, "-o", "addr", "show", "dev", link.hubInterface)
        #expect(hubAddrs.count == 1 && hubAddrs[0].contains("inet \(link.hubAddress)/31"), "\(hubAddrs)")
        try HubRig.expectHardened(try NetworkNamespace.open(name: rig.hubName), interfaces: ["lo", link.hubInterface])

        // A name is attached once; the next agent gets the next pair.
        await #expect(throws: AgentHubError.alreadyAttached("a1")) { try await rig.hub { try $0.attach(name: "a1", peer: peer) } }
        let second = try await rig.hub { try $0.attach(name: "a2", peer: peer) }
        #expect(second.hubAddress == LinkLocalPair(index: 1)!.hub)
        #expect(try await rig.hub { $0.agents.map(\.name) } == ["a1", "a2"])

        try await rig.hub { try $0.detach(name: "a1") }
        #expect(!NetworkNamespace.exists(name: nsName))
        #expect(try NetworkNamespace.open(name: rig.hubName).link(named: link.hubInterface) == nil)
        try await rig.hub { try $0.detach(name: "a1") }  // idempotent
        #expect(try await rig.hub { $0.agents.map(\.name) } == ["a2"])
        // The freed pair is reused.
        #expect(try await rig.hub { try $0.attach(name: "a3", peer: peer) }.hubInterface == link.hubInterface)

        try await rig.hub { try $0.stop() }
        #expect(!(try IPTool.run("ip", "netns", "list")).contains(rig.prefix))
        #expect(try await rig.hub { $0.agents.isEmpty })
    }

    @Test func anExistingEmptyNamespaceIsAttachedAndKeptOthersAreRefused() async throws {
        try HubPrivilege.require()
        let rig = try await HubRig(); defer { rig.finish() }
        try await rig.hub { try $0.start() }
        let peer = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        let extName = rig.prefix + "-ext"
        try IPTool.run("ip", "netns", "add", extName)
        let ext = try NetworkNamespace.open(name: extName)
        let link = try await rig.hub { try $0.attach(name: "ext", peer: peer, netns: ext) }
        #expect(link.netnsName == extName && !link.ownsNamespace)
        #expect(try ext.links().map(\.name) == ["lo", link.agentInterface])
        #expect(try IPTool.run("ip", "-n", extName, "-o", "addr").contains("inet \(link.agentAddress)/31"))
        // The same namespace cannot hold a second agent, nor can the hub's or the host's.
        await #expect(throws: AgentHubError.namespaceInUse(extName, by: "agent ext")) {
            try await rig.hub { try $0.attach(name: "again", peer: peer, netns: ext) }
        }
        let hubNS = try NetworkNamespace.open(name: rig.hubName)
        await #expect(throws: AgentHubError.namespaceInUse(rig.hubName, by: "the hub")) {
            try await rig.hub { try $0.attach(name: "hubby", peer: peer, netns: hubNS) }
        }
        let mine = try NetworkNamespace.ofProcess()
        await #expect { try await rig.hub { try $0.attach(name: "root", peer: peer, netns: mine) } } throws: { error in
            guard case AgentHubError.hostNamespace = error else { return false }
            return "\(error)".contains("host's network namespace")
        }

        // Detach leaves the namespace in place, holding only lo again.
        try await rig.hub { try $0.detach(name: "ext") }
        #expect(NetworkNamespace.exists(name: extName))
        #expect(try ext.links().map(\.name) == ["lo"])

        // A namespace with anything besides lo is refused, and nothing is left of the attempt.
        let dumName = rig.prefix + "-dum", dummy = rig.prefix + "d0", dummyPeer = rig.prefix + "d1"
        try IPTool.run("ip", "netns", "add", dumName)
        try IPTool.run("ip", "-n", dumName, "link", "add", dummy, "type", "veth", "peer", "name", dummyPeer)
        let dum = try NetworkNamespace.open(name: dumName)
        await #expect(throws: AgentHubError.namespaceNotEmpty(dumName, interfaces: [dummy, dummyPeer].sorted())) {
            try await rig.hub { try $0.attach(name: "dum", peer: peer, netns: dum) }
        }
        #expect(try dum.links().map(\.name).sorted() == ["lo", dummy, dummyPeer].sorted())
        #expect(try hubNS.links().map(\.name) == ["lo"])
        #expect(try await rig.hub { $0.agents.isEmpty })
        try await rig.hub { try $0.stop() }
        #expect(NetworkNamespace.exists(name: extName), "stop leaves namespaces it did not create")
    }

    @Test func aFailedAttachLeavesNothingBehind() async throws {
        try HubPrivilege.require()
        let port = UInt16.random(in: 20000...60000)
        let rig = try await HubRig(port: port); defer { rig.finish() }
        try await rig.hub { try $0.start() }
        let hubNS = try NetworkNamespace.open(name: rig.hubName)
        // A wildcard listener on the agents' port makes the last step (listen) fail.
        let blocker = try hubNS.run { try Socket.listenTCP(on: .anyV4(port: port)) }
        let peer = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        await #expect { try await rig.hub { try $0.attach(name: "b", peer: peer) } } throws: { error in
            guard case AgentHubError.socket(_, let e) = error else { return false }
            return e == .EADDRINUSE
        }
        #expect(!NetworkNamespace.exists(name: rig.prefix + "-b"))
        #expect(try hubNS.links().map(\.name) == ["lo"])
        #expect(try await rig.hub { $0.agents.isEmpty })
        #expect(!rig.logs.lines("agent_attach_failed", "agent=b").isEmpty)
        blocker.close()
        let link = try await rig.hub { try $0.attach(name: "b", peer: peer) }
        #expect(link.hubInterface == rig.prefix + "h0" && link.port == port)
        try await rig.hub { try $0.stop() }
    }
}

// MARK: - Support

/// Gate for the privileged tests: root and permission to unshare a network namespace. Without
/// them the tests are skipped with the reason, except under `CI=true`, where they run and fail.
enum HubPrivilege {
    static let missing: String? = {
        if geteuid() != 0 { return "needs root (euid \(geteuid()))" }
        if let e = NetworkNamespace.creationProbe() { return "cannot create a network namespace: \(e)" }
        return nil
    }()
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static var shouldRun: Bool { missing == nil || isCI }
    static func require() throws { try #require(missing == nil, "namespace tests cannot run: \(missing ?? "")") }
}

/// Holds loop-confined objects so a test task can hand them to the loop.
/// `@unchecked Sendable`: `value` is created and used only on the loop's thread.
final class LoopBound<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A hub on its own loop thread, under a random prefix `t` + 5 hex digits, with the cleanup that
/// removes everything carrying the prefix even when the test failed midway.
final class HubRig: Sendable {
    let prefix: String
    let thread: EventLoopThread
    let logs: LogBox
    let relayKey: Ed25519PrivateKey
    private let box: LoopBound<AgentHub>

    var hubName: String { prefix + "-hub" }
    var relayPeer: PeerID { PeerID(publicKey: relayKey.publicKey) }

    init(port: UInt16 = AgentHub.defaultPort) async throws {
        let prefix = "t" + String(format: "%05x", UInt32.random(in: 0...0xF_FFFF))
        let thread = try EventLoopThread(name: "hub-test")
        let loop = thread.loop, key = Ed25519PrivateKey(), logs = LogBox()
        do {
            box = try await loop.submit {
                let logger = Logger(component: "hub", minimum: .error, fd: -1)
                logger.addSink { logs.append($0) }
                let host = AirlockIO.Host(loop: loop, identity: key, logger: logger)
                return LoopBound(try AgentHub(prefix: prefix, host: host, port: port, logger: logger))
            }
        } catch {
            thread.stopAndJoin()
            throw error
        }
        self.prefix = prefix; self.thread = thread; self.relayKey = key; self.logs = logs
    }

    /// Runs `body` with the hub on its loop thread.
    func hub<R: Sendable>(_ body: @escaping @Sendable (AgentHub) throws -> R) async throws -> R {
        let box = self.box
        return try await thread.loop.submit { try body(box.value) }
    }

    /// Stops the loop (closing every socket it held), sweeps everything with the prefix, and
    /// checks that nothing is left in `ip netns list` or in this process's namespace.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) {
        thread.stopAndJoin()
        do { try NetworkNamespace.sweep(prefix: prefix) } catch {
            Issue.record("sweep \(prefix): \(error)", sourceLocation: sourceLocation)
        }
        _ = try? NetworkNamespace.ofProcess().deleteLinks(prefix: prefix)
        unlink("/run/airlock-\(prefix).lock")  // a hub the test left started held it
        let netns = (try? IPTool.run("ip", "netns", "list")) ?? "?"
        #expect(!netns.contains(prefix), "left in ip netns list: \(netns)", sourceLocation: sourceLocation)
        let links = (try? IPTool.run("ip", "-o", "link")) ?? "?"
        #expect(!links.contains(prefix), "link left in the root namespace: \(links)", sourceLocation: sourceLocation)
    }

    /// Reads back what `NetworkNamespace.harden` must have set.
    static func expectHardened(_ ns: NetworkNamespace, interfaces: [String],
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try ns.readSysctl("ipv4/ip_forward") == "0", sourceLocation: sourceLocation)
        for conf in ["all", "default"] + interfaces {
            #expect(try ns.readSysctl("ipv4/conf/\(conf)/forwarding") == "0", "\(conf)", sourceLocation: sourceLocation)
            #expect(try ns.readSysctl("ipv4/conf/\(conf)/rp_filter") == "1", "\(conf)", sourceLocation: sourceLocation)
            if access("/proc/sys/net/ipv6", F_OK) == 0 {
                #expect(try ns.readSysctl("ipv6/conf/\(conf)/disable_ipv6") == "1", "\(conf)", sourceLocation: sourceLocation)
            }
        }
    }
}

/// Runs `ip` to observe what the kernel holds; product code never shells out.
enum IPTool {
    struct Failed: Error, CustomStringConvertible {
        let command: [String]; let status: Int32; let output: String
        var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
    }

    /// Runs the command (found through PATH) and returns stdout+stderr; throws on a non-zero exit.
    @discardableResult
    static func run(_ args: String...) throws -> String { try run(args) }

    static func run(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw Failed(command: args, status: p.terminationStatus, output: out) }
        return out
    }

    /// The non-empty output lines, without the complaint `ip` prints on stderr about a veth whose
    /// peer's namespace another test deleted at that moment (tests run in parallel).
    static func lines(_ args: String...) throws -> [String] {
        try run(args).split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("Error: Peer netns reference is invalid") }
    }
}
