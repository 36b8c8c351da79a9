#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Privileged escape attempts from inside an agent namespace, as the agent user, through
/// `airlock run` (design §2 invariants 1-3 and 8). Tests/Escape/probe.py makes each attempt and
/// prints what happened; every one must fail exactly as stated.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct EscapeTests {
    static var probe: String { (try? String(contentsOfFile: packageRoot() + "/Tests/Escape/probe.py", encoding: .utf8)) ?? "" }

    /// Runs the probe with `attempts` (name → attempt fields) in a fresh agent and returns each
    /// attempt's result by name.
    static func probe(_ rig: AgentRig, _ attempts: [(String, [String: Any])], runArgs: [String] = [],
                      environment: [String: String] = [:], wrapper: String? = nil) async throws -> [String: String] {
        let list = attempts.map { name, fields in fields.merging(["name": name]) { $1 } }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: list), as: UTF8.self)
        let r = try await rig.run(runArgs + ["--", "python3", "-c", probe, json], environment: environment, wrapper: wrapper)
        #expect(r.status == 0, "probe: \(r.stderr)")
        var results: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], let n = o["name"] else { continue }
            results[n] = o["result"]
        }
        #expect(results.count == attempts.count, "every attempt reports: \(r.stdout) \(r.stderr)")
        return results
    }

    @Test func nothingButItsOwnListenerIsReachable() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        // Another agent, listening on its own side, so reaching it would show.
        let neighbour = try rig.startRun(["--", "python3", "-c",
            "import socket,time; s=socket.socket(); s.bind(('0.0.0.0', 4500)); s.listen(); print('up', flush=True); time.sleep(600)"])
        defer { neighbour.kill() }
        _ = try await neighbour.nextLine(timeout: 20, "the neighbour listening") { $0 == "up" }
        let theirs = try IPTool.lines("ip", "-n", rig.prefix + "-tester", "-o", "-4", "addr", "show", "scope", "global")
        let neighbourAddress = try #require(theirs.first?.split(separator: " ").first { $0.contains("/31") }?.split(separator: "/").first.map(String.init))
        // A host listener the host itself reaches: the web server on 127.0.0.1. An abstract Unix
        // socket in the host's namespace.
        let abstract = "airlock-escape-\(rig.prefix)"
        let unixFD = try Self.bindAbstract(abstract)
        defer { close(unixFD) }

        let results = try await Self.probe(rig, [
            ("host loopback", ["kind": "tcp", "host": "127.0.0.1", "port": Int(rig.webServer.port)]),
            ("relay address, another port", ["kind": "tcp", "host": "169.254.1.2", "port": 4002]),
            ("relay address, its own listener", ["kind": "tcp", "host": "169.254.1.2", "port": 4001]),
            ("the neighbour's hub address", ["kind": "tcp", "host": "169.254.1.0", "port": 4001]),
            ("the neighbour itself", ["kind": "tcp", "host": neighbourAddress, "port": 4500]),
            ("elsewhere in 169.254/16", ["kind": "tcp", "host": "169.254.200.1", "port": 80]),
            ("UDP to the hub", ["kind": "udp", "host": "169.254.1.2", "port": 53]),
            ("UDP elsewhere", ["kind": "udp", "host": "169.254.200.1", "port": 53]),
            ("UDP to loopback", ["kind": "udp", "host": "127.0.0.1", "port": 54]),
            ("junk to the DNS stub", ["kind": "udp", "host": "127.0.0.1", "port": 53]),
            ("IPv6 loopback", ["kind": "tcp", "family": 6, "host": "::1", "port": Int(rig.webServer.port)]),
            ("IPv6 link-local", ["kind": "tcp", "family": 6, "host": "fe80::1", "port": 4001, "scope": rig.prefix + "a1"]),
            ("ICMP raw socket", ["kind": "socket", "family": "AF_INET", "type": "SOCK_RAW", "proto": 1]),
            ("ICMP ping socket", ["kind": "socket", "family": "AF_INET", "type": "SOCK_DGRAM", "proto": 1]),
            ("raw IP socket", ["kind": "socket", "family": "AF_INET", "type": "SOCK_RAW", "proto": 255]),
            ("packet socket", ["kind": "socket", "family": "AF_PACKET", "type": "SOCK_RAW"]),
            ("host abstract Unix socket", ["kind": "unix", "abstract": abstract]),
            ("the control socket", ["kind": "unix", "type": "SOCK_SEQPACKET", "path": rig.control]),
            ("add a route", ["kind": "command", "argv": ["ip", "route", "add", "169.254.9.0/24", "dev", "lo"]]),
            ("add a link", ["kind": "command", "argv": ["ip", "link", "add", "x0", "type", "veth", "peer", "name", "x1"]]),
            ("add an address", ["kind": "command", "argv": ["ip", "addr", "add", "169.254.9.1/32", "dev", "lo"]]),
        ])
        let expected: [String: String] = [
            "host loopback": "ECONNREFUSED",                   // the agent's lo is its own
            "relay address, another port": "ECONNREFUSED",     // nothing else listens on the hub
            "relay address, its own listener": "ok",           // the one way out
            "the neighbour's hub address": "ENETUNREACH",      // only its /31 is routed
            "the neighbour itself": "ENETUNREACH",
            "elsewhere in 169.254/16": "ENETUNREACH",          // no default route
            "UDP to the hub": "ECONNREFUSED",                  // port unreachable: nothing to talk to
            "UDP elsewhere": "ENETUNREACH",
            "UDP to loopback": "ECONNREFUSED",
            "junk to the DNS stub": "timeout",                 // it answers queries only (RunDNSTests)
            "IPv6 loopback": "EADDRNOTAVAIL",                  // IPv6 is off in the namespace
            "IPv6 link-local": "EADDRNOTAVAIL",
            "ICMP raw socket": "EPERM",
            "ICMP ping socket": "EACCES",                      // ping_group_range excludes the agent
            "raw IP socket": "EPERM",
            "packet socket": "EPERM",
            "host abstract Unix socket": "ECONNREFUSED",       // abstract names are per namespace
            "the control socket": "EACCES",                    // root:airlock 0750, and no groups (the rig's is in the working directory; a relay's own is under /run, out of sight)
            "add a route": "RTNETLINK answers: Operation not permitted",
            "add a link": "RTNETLINK answers: Operation not permitted",
            "add an address": "RTNETLINK answers: Operation not permitted",
        ]
        for (name, want) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(results[name] == want, "\(name): got \(results[name] ?? "nothing"), expected \(want)")
        }
    }

    @Test func descriptorsOfTheLauncherNeverReachTheAgent() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        // The launcher holds a file and a socket without close-on-exec; none of it may arrive.
        let r = try await Self.probe(rig, [("descriptors above 2", ["kind": "fds"])],
                                     wrapper: "exec 7</etc/hostname 8<>\(rig.dir.file("fifo")) 9</dev/null")
        #expect(r["descriptors above 2"] == "none")
    }

    @Test(.enabled(if: InteropPython.shouldRun, InteropPython.skipReason))
    func aForeignKeyOnTheAgentsListenerIsRefused() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let run = try await RunTeardownTests.startSleeper(rig, RunTeardownTests.marker())
        defer { run.kill() }
        let ns = rig.prefix + "-tester"
        let relayPeer = String(rig.relayAddress.split(separator: "/").last!)
        // A real libp2p peer (py-libp2p) with its own key dials the agent's listener from inside.
        let python = try #require(InteropPython.python)
        let stranger = try ChildProcess("/usr/bin/nsenter", ["--net=/run/netns/\(ns)", python, InteropPython.script, "dial",
                                                             "--relay", "/ip4/169.254.1.0/tcp/4001/p2p/\(relayPeer)", "--target", rig.webPeer,
                                                             "--no-reserve", "--bytes", "1K", "--connect-timeout", "10", "--timeout", "20"],
                                        name: "py stranger")
        _ = try await stranger.waitForExit(timeout: 30)
        #expect(stranger.terminationStatus != 0)
        #expect(!stranger.stdoutLines.contains { InteropPython.event($0)["ok"] as? Bool == true })
        #expect(try await AgentRig.eventually { !rig.relayLines("agent_peer_refused", "agent=tester").isEmpty }, "\(rig.relayLog.suffix(10))")
        #expect(rig.relayLines("circuit_opened").isEmpty)
    }

    @Test func theControlSocketRefusesCallersInAnAgentNamespace() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let run = try await RunTeardownTests.startSleeper(rig, RunTeardownTests.marker())
        defer { run.kill() }
        // Root itself, but from inside the agent's namespace: refused by where it is.
        let inside = try ChildProcess("/usr/bin/nsenter", ["--net=/run/netns/\(rig.prefix)-tester", airlockBinary(), "run",
                                                           "--control", rig.control, "--name", "tester", "--", "true"],
                                      name: "run from inside", environment: ["PATH": "/usr/bin:/bin"])
        #expect(try await inside.waitForExit(timeout: 20) == 1)
        #expect(inside.stderrText == "error: the control socket does not serve agents\n")
        #expect(rig.relayLines("control_refused", "reason=\"the control socket does not serve agents\"").count == 1, "\(rig.relayLog.suffix(5))")
    }

    /// Binds and listens on abstract Unix socket `name` in this (the host's) namespace.
    static func bindAbstract(_ name: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            p[0] = 0
            for (i, b) in bytes.enumerated() { p[i + 1] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 } }
        guard ok, listen(fd, 4) == 0 else { close(fd); throw ChildProcess.Failure(description: "abstract socket: \(String(cString: strerror(errno)))") }
        return fd
    }
}
