#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Privileged: `airlock attach` and `detach` with namespaces made outside airlock: one by
/// `ip netns add`, one held by a process under `unshare -n`.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct AttachCommandTests {
    static let web = AgentRig.webBody.trimmingCharacters(in: .newlines)

    func attach(_ rig: AgentRig, _ args: [String]) async throws -> RunResult {
        try await rig.airlockCommand(["attach", "--control", rig.control] + args)
    }

    func detach(_ rig: AgentRig, _ name: String) async throws -> RunResult {
        try await rig.airlockCommand(["detach", name, "--control", rig.control])
    }

    @Test func anIpNetnsNamespaceIsWiredAndLeftEmptyOnDetach() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let ns = rig.prefix + "x"
        try IPTool.run("ip", "netns", "add", ns)
        defer { _ = try? IPTool.run("ip", "netns", "del", ns) }

        let r = try await attach(rig, ["--netns", ns])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("attached tester (netns \(ns)) as agent tester, peer 12D3KooW"), "\(r.stdout)")
        #expect(r.stdout.hasSuffix("169.254.1.1 → relay 169.254.1.0:4001; undo with: airlock detach tester"), "\(r.stdout)")
        let links = try IPTool.lines("ip", "-n", ns, "-o", "link")
        #expect(links.count == 2 && links[0].contains(" lo:"), "lo and the veth only: \(links)")
        // Anything in the namespace now reaches web through the shim, and only through it.
        let fetch = try IPTool.run("ip", "netns", "exec", ns, "curl", "-fsS", "-m", "10", "-x", "http://127.0.0.1:3128", "http://web/")
        #expect(fetch == AgentRig.webBody)
        #expect(throws: (any Error).self) {
            try IPTool.run("ip", "netns", "exec", ns, "curl", "-fsS", "-m", "5", "--noproxy", "*", "http://127.0.0.1:\(rig.webServer.port)/")
        }

        let d = try await detach(rig, "tester")
        #expect(d.status == 0 && d.stdout == "detached tester", "\(d.stderr)")
        #expect(try await AgentRig.eventually { try IPTool.lines("ip", "-n", ns, "-o", "link").count == 1 }, "only lo is left")
        #expect(try IPTool.lines("ip", "netns", "list").contains { $0.hasPrefix(ns) }, "the namespace itself stays")
        #expect(try rig.links().isEmpty)
        #expect(rig.relayLines("agent_detached", "agent=tester").count == 1)
    }

    @Test func theNamespaceOfAnUnshareProcessIsAttachedByPid() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let holder = try ChildProcess("/usr/bin/unshare", ["-n", "sleep", RunTeardownTests.marker()], name: "unshare -n")
        defer { holder.kill() }
        let pid = holder.pid
        #expect(try await AgentRig.eventually {
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sleep\n"
        })
        let r = try await attach(rig, ["--pid", "\(pid)"])
        #expect(r.status == 0 && r.stdout.hasPrefix("attached tester (netns pid \(pid)) as agent tester"), "\(r.stdout) \(r.stderr)")
        let fetch = try IPTool.run("nsenter", "-t", "\(pid)", "-n", "curl", "-fsS", "-m", "10", "-x", "socks5h://127.0.0.1:1080", "http://web/")
        #expect(fetch == AgentRig.webBody)
        #expect(try await detach(rig, "tester").status == 0)
        #expect(try await AgentRig.eventually { try IPTool.lines("nsenter", "-t", "\(pid)", "-n", "ip", "-o", "link").count == 1 })
    }

    @Test func theHostsAndBusyNamespacesAreRefused() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let host = try await attach(rig, ["--pid", "\(getpid())"])
        #expect(host.status == 1)
        #expect(host.stderr.hasPrefix("error: the relay refused: refusing netns pid \(getpid()) ns:["), "\(host.stderr)")
        #expect(host.stderr.hasSuffix("]: it is the host's network namespace; give the agent a namespace of its own\n"), "\(host.stderr)")

        let busy = rig.prefix + "y"
        try IPTool.run("ip", "netns", "add", busy)
        defer { _ = try? IPTool.run("ip", "netns", "del", busy) }
        try IPTool.run("ip", "-n", busy, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        let b = try await attach(rig, ["--netns", busy])
        #expect(b.status == 1 && b.stderr.hasSuffix(": it holds interfaces besides lo (d0, d1); an agent namespace must hold only lo\n"), "\(b.stderr)")

        let missing = try await attach(rig, ["--netns", rig.prefix + "z"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "error: cannot open the network namespace /run/netns/\(rig.prefix)z: No such file or directory\n")

        // One namespace, one attachment: a second attach of it is refused and changes nothing.
        let once = rig.prefix + "w"
        try IPTool.run("ip", "netns", "add", once)
        defer { _ = try? IPTool.run("ip", "netns", "del", once) }
        #expect(try await attach(rig, ["--netns", once]).status == 0)
        let twice = try await attach(rig, ["--netns", once])
        #expect(twice.status == 1 && twice.stderr.hasSuffix(": it is already used by agent tester\n"), "\(twice.stderr)")
        #expect(try IPTool.lines("ip", "-n", once, "-o", "link").count == 2)
        #expect(rig.relayLines("shim_ready").count == 1, "no shim was started for the refused attaches")
        #expect(try await detach(rig, "tester").status == 0)
        let again = try await detach(rig, "tester")
        #expect(again.status == 1 && again.stderr == "error: the relay refused: nothing named tester is attached\n")
    }
}
