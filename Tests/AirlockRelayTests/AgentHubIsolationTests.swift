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

/// Privileged: what a process inside an agent namespace can reach (design §2 invariants 1, 3).
/// Every socket on the agent side is created inside the agent namespace (`NetworkNamespace.run`).
@Suite(.serialized, .enabled(if: HubPrivilege.shouldRun, Comment(rawValue: HubPrivilege.missing ?? "")))
struct AgentHubIsolationTests {
    @Test func onlyTheRegisteredIdentityCompletesAHandshake() async throws {
        try HubPrivilege.require()
        let rig = try await HubRig(); defer { rig.finish() }
        try await rig.hub { try $0.start() }
        let keyA = Ed25519PrivateKey(), keyB = Ed25519PrivateKey(), stranger = Ed25519PrivateKey()
        let a = try await rig.hub { try $0.attach(name: "a", peer: PeerID(publicKey: keyA.publicKey)) }
        _ = try await rig.hub { try $0.attach(name: "b", peer: PeerID(publicKey: keyB.publicKey)) }
        let nsA = try NetworkNamespace.open(name: try #require(a.netnsName))

        // The registered identity gets a libp2p connection and a ping through it.
        let good = try await AgentSide.dialAndPing(rig, from: nsA, key: keyA, to: a)
        #expect(good.failure == nil)
        let peerA = PeerID(publicKey: keyA.publicKey)
        #expect(rig.logs.lines("agent_connected", "agent=a", "peer=\(peerA)").count == 1)

        // Another agent's identity, and an unknown one, prove themselves and are closed anyway.
        for key in [keyB, stranger] {
            let peer = PeerID(publicKey: key.publicKey)
            let bad = try await AgentSide.dialAndPing(rig, from: nsA, key: key, to: a)
            #expect(bad.failure != nil, "\(peer) must not get a working connection on a's listener")
            #expect(rig.logs.lines("agent_peer_refused", "agent=a", "peer=\(peer)", "expected=\(peerA)").count == 1)
            #expect(try await rig.hub { $0.host.connections(to: peer).isEmpty })
        }
        #expect(try await rig.hub { $0.host.connections(to: peerA).count == 1 })

        // Detach closes the connection admitted on the agent's listener.
        try await rig.hub { try $0.detach(name: "a") }
        let conn = try #require(good.connection)
        var closed = false
        for _ in 0..<300 where !closed {
            closed = try await rig.thread.loop.submit { conn.value.isClosed }
            if !closed { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(closed, "the agent's connection must close when it is detached")
        #expect(try await rig.hub { $0.host.connections(to: peerA).isEmpty })
        try await rig.hub { try $0.stop() }
    }

    @Test func anAgentReachesItsListenerAndNothingElse() async throws {
        try HubPrivilege.require()
        let rig = try await HubRig(); defer { rig.finish() }
        try await rig.hub { try $0.start() }
        let peer = PeerID(publicKey: Ed25519PrivateKey().publicKey)
        let a = try await rig.hub { try $0.attach(name: "a", peer: peer) }
        let b = try await rig.hub { try $0.attach(name: "b", peer: peer) }
        let nsA = try NetworkNamespace.open(name: try #require(a.netnsName))
        func v4(_ ip: IPv4Address, _ port: UInt16) -> SocketAddress { SocketAddress(ip: .v4(ip.value), port: port) }

        // Its own listener answers.
        #expect(try AgentSide.connectError(from: nsA, to: v4(a.hubAddress, a.port)) == nil)
        // Nothing else on the hub: other ports of its hub address, the other agent's addresses.
        try AgentSide.expectUnreachable(from: nsA, v4(a.hubAddress, a.port &+ 1))
        try AgentSide.expectUnreachable(from: nsA, v4(b.hubAddress, b.port))
        try AgentSide.expectUnreachable(from: nsA, v4(b.agentAddress, b.port))
        // Even with a route (which an agent cannot add) b's listener only hears b's veth.
        try IPTool.run("ip", "-n", a.netnsName!, "route", "add", "\(b.hubAddress)/32", "dev", a.agentInterface)
        try AgentSide.expectUnreachable(from: nsA, v4(b.hubAddress, b.port))
        try IPTool.run("ip", "-n", a.netnsName!, "route", "del", "\(b.hubAddress)/32", "dev", a.agentInterface)

        // The host: its loopback and its own addresses, each with a listener that the host itself
        // reaches (so the failure from the agent side means something).
        let root = try NetworkNamespace.ofProcess()
        let loopback = try Socket.listenTCP(on: .loopbackV4(port: 0)); defer { loopback.close() }
        let loopbackAddr = try loopback.localAddress()
        #expect(try AgentSide.connectError(from: root, to: loopbackAddr) == nil)
        try AgentSide.expectUnreachable(from: nsA, loopbackAddr)
        let wildcard = try Socket.listenTCP(on: .anyV4(port: 0)); defer { wildcard.close() }
        let wildPort = try wildcard.localAddress().port
        for ip in try AgentSide.hostAddresses() {
            #expect(try AgentSide.connectError(from: root, to: v4(ip, wildPort)) == nil, "\(ip)")
            try AgentSide.expectUnreachable(from: nsA, v4(ip, wildPort))
        }

        // No IPv6 at all: no address, no route, and the loopback is not there either.
        #expect(try IPTool.lines("ip", "-n", a.netnsName!, "-6", "addr").isEmpty)
        try AgentSide.expectUnreachable(from: nsA, .loopbackV6(port: a.port))
        try AgentSide.expectUnreachable(from: nsA, try #require(SocketAddress(ip: "fe80::1", port: a.port)))
        try await rig.hub { try $0.stop() }
    }
}

/// The agent's side of the tests: sockets made inside an agent namespace.
enum AgentSide {
    /// Connects from inside `ns` to `address`, waiting at most 3 s. The connected socket
    /// (non-blocking; the caller closes it), or the error.
    static func connect(from ns: NetworkNamespace, to address: SocketAddress) throws -> Result<Socket, Errno> {
        try ns.run { () -> Result<Socket, Errno> in
            let started: (socket: Socket, connected: Bool)
            do throws(Errno) { started = try Socket.connectTCP(to: address) } catch { return .failure(error) }
            let s = started.socket
            if started.connected { return .success(s) }
            var p = pollfd(fd: s.fd, events: Int16(POLLOUT), revents: 0)
            let n = poll(&p, 1, 3000)
            if n <= 0 { let e = n == 0 ? Errno(rawValue: ETIMEDOUT) : Errno.current; s.close(); return .failure(e) }
            if let e = s.takeError() { s.close(); return .failure(e) }
            return .success(s)
        }
    }

    /// Nil when a TCP connection from `ns` to `address` succeeds (it is closed again), else why not.
    static func connectError(from ns: NetworkNamespace, to address: SocketAddress) throws -> Errno? {
        switch try connect(from: ns, to: address) {
        case .success(let s): s.close(); return nil
        case .failure(let e): return e
        }
    }

    static func expectUnreachable(from ns: NetworkNamespace, _ address: SocketAddress,
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
        let e = try connectError(from: ns, to: address)
        #expect(e != nil, "\(address) must be unreachable from \(ns)", sourceLocation: sourceLocation)
    }

    /// The IPv4 addresses of this process's namespace besides loopback.
    static func hostAddresses() throws -> [IPv4Address] {
        try IPTool.lines("ip", "-4", "-o", "addr").compactMap { line in
            let words = line.split(separator: " ")
            guard let i = words.firstIndex(of: "inet"), i + 1 < words.count,
                  let ip = IPv4Address(String(words[i + 1].prefix { $0 != "/" })), ip.bytes[0] != 127 else { return nil }
            return ip
        }
    }

    struct Outcome: Sendable {
        /// Why the dial or the ping failed; nil when both worked.
        var failure: String?
        /// The working connection (kept open), with its host.
        var connection: LoopBound<Libp2pConnection>?
        var client: LoopBound<AirlockIO.Host>?
    }

    /// From inside `ns`, dials `link`'s listener with identity `key`, completes the libp2p
    /// handshake expecting the relay's identity, and pings once over the new connection.
    static func dialAndPing(_ rig: HubRig, from ns: NetworkNamespace, key: Ed25519PrivateKey,
                            to link: AgentLink) async throws -> Outcome {
        let socket = try connect(from: ns, to: SocketAddress(ip: .v4(link.hubAddress.value), port: link.port)).get()
        let loop = rig.thread.loop, relay = rig.relayPeer
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Outcome, any Error>) in
            let once = Once(c)
            loop.execute {
                loop.schedule(after: .seconds(15)) { once.finish(.failure(LoopTimeout())) }
                let client = AirlockIO.Host(loop: loop, identity: key)
                client.dial(connected: socket, expect: relay) { r in
                    switch r {
                    case .failure(let e):
                        once.finish(.success(Outcome(failure: "dial: \(e)")))
                    case .success(let conn):
                        client.ping(conn) { p in
                            switch p {
                            case .failure(let e): once.finish(.success(Outcome(failure: "ping: \(e)")))
                            case .success: once.finish(.success(Outcome(connection: LoopBound(conn), client: LoopBound(client))))
                            }
                        }
                    }
                }
            }
        }
    }
}
