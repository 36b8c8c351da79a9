#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import AirlockAgent
import AirlockCore
import AirlockCrypto

/// Whether the privileged end-to-end tests can run here: root, and network namespaces. Under
/// `CI=true` they run regardless, so a missing privilege fails instead of skipping.
enum AgentPrivilege {
    static let missing: String? = {
        if geteuid() != 0 { return "needs root (euid \(geteuid()))" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") { return "needs /usr/bin/curl (make deps installs it)" }
        if getpwnam("airlock-agent") == nil || getpwnam("airlock-shim") == nil { return "needs the airlock-agent and airlock-shim accounts (make users)" }
        return nil
    }()
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static var shouldRun: Bool { missing == nil || isCI }
    static let skipReason = Comment(rawValue: missing ?? "")
    static func require() throws { try #require(missing == nil, "agent tests cannot run: \(missing ?? "")") }
}

/// A real `airlock relay` with a hub under a random prefix and its own control socket, and two
/// services (`airlock expose`) in front of tiny HTTP servers on 127.0.0.1: `web`, which the
/// policy's agents may reach, and `other`, which they may not. Everything lives in one 0755
/// directory (agents run unprivileged and must reach the scripts and copies they are given).
/// `finish()` stops every process and removes every namespace and link carrying the prefix,
/// also when the test failed midway.
final class AgentRig: @unchecked Sendable {  // set up in init, then only read
    static let webBody = "hello from web through the airlock\n"
    static let otherBody = "other says hi\n"

    let dir: TempDir
    let prefix: String
    let webServer: TinyHTTPServer
    let otherServer: TinyHTTPServer
    let webPeer: String
    let otherPeer: String
    private(set) var relay: ChildProcess!
    private(set) var relayAddress = ""
    private(set) var services: [ChildProcess] = []
    private let extraPolicy: (AgentRig) -> String
    /// Arguments added to every `airlock relay` this rig starts (`--exit`, …).
    private let relayExtra: [String]

    var control: String { dir.file("ctl/control.sock") }
    var hubName: String { prefix + "-hub" }
    var relayLog: [String] { relay.stderrLines }

    /// `agents`: the policy's `agents` members and extra rules (JSON text), given the rig for
    /// its peers. By default one agent `tester` owned by root, allowed to reach `web`.
    init(agents: @escaping (AgentRig) -> String = { _ in AgentRig.defaultAgents }, relayExtra: [String] = [],
         files: [String: String] = [:]) async throws {
        try AgentPrivilege.require()
        dir = try TempDir()
        chmod(dir.path, 0o755)
        prefix = "r" + String(format: "%05x", UInt32.random(in: 0..<0xfffff))
        webServer = try TinyHTTPServer(body: Self.webBody)
        otherServer = try TinyHTTPServer(body: Self.otherBody)
        webPeer = try Self.key(dir, "web.key")
        otherPeer = try Self.key(dir, "other.key")
        _ = try Self.key(dir, "relay.key")
        extraPolicy = agents
        self.relayExtra = relayExtra
        do {
            for (name, text) in files { try dir.write(name, text) }
            try dir.write("policy.json", policyText)
            try await startRelay()
            for (name, port) in [("web", webServer.port), ("other", otherServer.port)] {
                let s = try ChildProcess(airlockBinary(), ["expose", name, "--target", "127.0.0.1:\(port)", "--relay", relayAddress,
                                                           "--key", dir.file("\(name).key")], name: "expose \(name)", directory: dir.path)
                services.append(s)
                _ = try await s.nextLine(timeout: 20, "exposed \(name)") { $0.hasPrefix("exposed ") }
            }
        } catch {
            finish()
            throw error
        }
    }

    static let defaultAgents = #"{ "agents": { "tester": { "uid": 0 } }, "rules": [ { "from": "tester", "to": "web" } ] }"#

    /// The policy: the rig's services plus what `agents` adds (its `agents`, `exits` and `rules`).
    var policyText: String {
        let extra = (try? JSONSerialization.jsonObject(with: Data(extraPolicy(self).utf8))) as? [String: Any] ?? [:]
        var policy: [String: Any] = ["version": 1, "services": ["web": ["peer": webPeer], "other": ["peer": otherPeer]]]
        policy["agents"] = extra["agents"] ?? [String: Any]()
        policy["exits"] = extra["exits"] ?? [String: Any]()
        policy["rules"] = extra["rules"] ?? [Any]()
        let data = try! JSONSerialization.data(withJSONObject: policy, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// A free TCP port on 127.0.0.1 below the kernel's ephemeral range (32768 and up by
    /// default), so a relay restarted on it does not find it taken by some other test's
    /// outgoing connection meanwhile, as a port the kernel picked can be.
    static func freePort() -> UInt16 {
        for _ in 0..<200 {
            let port = UInt16.random(in: 20000..<32000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = port.bigEndian
            let ok = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            if ok { return port }
        }
        return 0  // let the kernel pick
    }

    /// Writes a fresh key file `name` in `dir` and returns its peer ID.
    static func key(_ dir: TempDir, _ name: String) throws -> String {
        let k = Ed25519PrivateKey()
        try KeyFile.write(k, to: dir.file(name))
        return "\(PeerID(publicKey: k.publicKey))"
    }

    /// Starts (or restarts, on the same port) the relay and waits for its `listening` line.
    func startRelay() async throws {
        let port = relayAddress.isEmpty ? "\(Self.freePort())" : relayAddress.split(separator: "/")[3].description
        let r = try ChildProcess(airlockBinary(), ["relay", "--listen", "127.0.0.1:\(port)", "--key", dir.file("relay.key"),
                                                   "--policy", dir.file("policy.json"), "--hub-prefix", prefix, "--control", control,
                                                   "--log-level", "debug"] + relayExtra,
                                 name: "airlock relay", directory: dir.path)
        relay = r
        let line = try await r.nextLine(timeout: 30, "a listening line") { $0.hasPrefix("listening ") }
        relayAddress = String(line.dropFirst("listening ".count))
    }

    /// Runs `airlock ARGS` to its end (killed after `timeout` seconds) with a minimal
    /// environment plus `environment`, optionally through `setpriv` as another uid (then from a
    /// copy of the binary in the rig's directory, which that uid can reach).
    /// `wrapper`: shell commands that run first, in the same process (`exec 9<file` to leave
    /// the launcher a descriptor it did not mean to pass).
    func airlockCommand(_ args: [String], environment: [String: String] = [:], as user: RigUser? = nil,
                        wrapper: String? = nil, timeout: Double = 60) async throws -> RunResult {
        var executable = airlockBinary(), arguments = args
        if let wrapper {
            arguments = ["-c", wrapper + "; exec \"$0\" \"$@\"", executable] + arguments
            executable = "/bin/sh"
        }
        if let user {
            let copy = dir.file("airlock-bin")
            if !FileManager.default.fileExists(atPath: copy) {
                // By cp, not in this process: a child another test forks meanwhile would inherit
                // our writable descriptor, and exec of the copy would fail with ETXTBSY.
                try IPTool.run("cp", executable, copy)
                chmod(copy, 0o755)
            }
            executable = "/usr/bin/setpriv"
            arguments = ["--reuid", "\(user.uid)", "--regid", "\(user.gid)"]
                + (user.groups.isEmpty ? ["--clear-groups"] : ["--groups", user.groups.map(String.init).joined(separator: ",")])
                + [copy] + args
        }
        let env = ["PATH": "/usr/bin:/bin", "HOME": dir.path, "LANG": "C.UTF-8"].merging(environment) { $1 }
        let child = try ChildProcess(executable, arguments, name: "airlock \(args.first ?? "")", directory: dir.path, environment: env)
        guard let status = try await child.waitForExit(timeout: timeout) else {
            child.kill()
            throw ChildProcess.Failure(description: "airlock \(args.joined(separator: " ")) did not end within \(timeout) s; stderr: \(child.stderrText)")
        }
        return RunResult(status: status, stdout: child.stdoutLines.joined(separator: "\n"), stderr: child.stderrText)
    }

    /// Starts `airlock run --control … ARGS` in the background (as root, minimal environment).
    func startRun(_ args: [String], environment: [String: String] = [:]) throws -> ChildProcess {
        let env = ["PATH": "/usr/bin:/bin", "HOME": dir.path, "LANG": "C.UTF-8"].merging(environment) { $1 }
        return try ChildProcess(airlockBinary(), ["run", "--control", control] + args, name: "airlock run", directory: dir.path, environment: env)
    }

    /// `airlock run --control … ARGS`.
    func run(_ args: [String], environment: [String: String] = [:], as user: RigUser? = nil, wrapper: String? = nil,
             timeout: Double = 60) async throws -> RunResult {
        try await airlockCommand(["run", "--control", control] + args, environment: environment, as: user, wrapper: wrapper, timeout: timeout)
    }

    /// Relay log lines with event `event` that contain every one of `parts`.
    func relayLines(_ event: String, _ parts: String...) -> [String] {
        relayLog.filter { l in l.contains(" \(event) ") && parts.allSatisfy { l.contains($0) } }
    }

    /// Names under `ip netns list` that carry this rig's prefix.
    func namespaces() throws -> [String] {
        try IPTool.lines("ip", "netns", "list").map { String($0.split(separator: " ")[0]) }.filter { $0.hasPrefix(prefix + "-") }
    }

    /// Links of the host namespace and of the hub that carry this rig's prefix.
    func links() throws -> [String] {
        var names = try IPTool.lines("ip", "-o", "link").compactMap { Self.linkName($0) }
        if try namespaces().contains(hubName) { names += try IPTool.lines("ip", "-n", hubName, "-o", "link").compactMap { Self.linkName($0) } }
        return names.filter { $0.hasPrefix(prefix) }
    }

    static func linkName(_ line: String) -> String? {
        let fields = line.split(separator: ":", maxSplits: 2)
        guard fields.count > 1 else { return nil }
        return String(fields[1].trimmingCharacters(in: .whitespaces).split(separator: "@")[0])
    }

    /// Processes whose command line starts with `prefix` (so `airlock run -- sleep N`, whose
    /// command line only contains it, is not one of them).
    static func processes(startingWith prefix: String) -> [Int32] {
        let me = getpid()
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
            guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").hasPrefix(prefix)
        }
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
    static func eventually(timeout: Double = 15, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try condition()
    }

    /// Stops everything and removes what carries the prefix.
    func finish() {
        for s in services { s.signal(SIGTERM) }
        relay?.signal(SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while (relay?.isRunning ?? false) && Date() < deadline { usleep(20_000) }
        for s in services { s.kill() }
        relay?.kill()
        webServer.stop()
        otherServer.stop()
        let all = (try? IPTool.lines("ip", "netns", "list").map { String($0.split(separator: " ")[0]) }) ?? []
        for ns in all where ns.hasPrefix(prefix) { _ = try? IPTool.run("ip", "netns", "del", ns) }
        for l in (try? IPTool.lines("ip", "-o", "link").compactMap { Self.linkName($0) }) ?? [] where l.hasPrefix(prefix) {
            _ = try? IPTool.run("ip", "link", "del", l)
        }
        unlink("/run/airlock-\(prefix).lock")  // left by a relay the test killed
        removeCgroups()
    }

    /// The run cgroups under this rig's `airlock-<prefix>` that exist now, in every hierarchy.
    func cgroups() -> [String] {
        CgroupLayout.current().hierarchies.flatMap { h in
            let dir = "\(h)/\(RunCgroup.parentName(prefix: prefix))"
            // Control files are files; child cgroups are directories.
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).map { "\(dir)/\($0)" }.filter {
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory.boolValue
            }
        }
    }

    /// Kills what is left in this rig's cgroups (a relay the test killed cannot) and removes
    /// them, waiting a little for the processes to die.
    func removeCgroups() {
        let layout = CgroupLayout.current()
        for leaf in cgroups() {
            let name = (leaf as NSString).lastPathComponent
            guard let cg = RunCgroup.adopt(layout, prefix: prefix, name: name) else { continue }
            cg.kill()
            let deadline = Date().addingTimeInterval(5)
            while !cg.remove().isEmpty && Date() < deadline { usleep(20_000) }
        }
        RunCgroup.removeParents(layout, prefix: prefix)
    }
}

/// A uid, gid and supplementary groups for `setpriv` (no account needs to exist).
struct RigUser {
    let uid: UInt32
    let gid: UInt32
    var groups: [UInt32] = []

    static var airlockGroup: UInt32 { getgrnam("airlock")?.pointee.gr_gid ?? 0 }
}

/// Runs `ip` (or another tool) to observe or set up the machine in tests; throws on failure.
enum IPTool {
    @discardableResult
    static func run(_ args: String...) throws -> String { try run(args) }

    static func run(_ args: [String]) throws -> String {
        let r = try TestProcess.run("/usr/bin/env", args, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        guard r.status == 0 else {
            throw ChildProcess.Failure(description: "\(args.joined(separator: " ")) failed: \(r.stderr)")
        }
        return r.stdout
    }

    static func lines(_ args: String...) throws -> [String] {
        try run(args).split(separator: "\n").map(String.init)
    }
}

/// An HTTP/1.1 server on 127.0.0.1 (a free port) answering every request with `body`, on its
/// own thread; `stop()` closes it. Enough for curl through the relay.
final class TinyHTTPServer: @unchecked Sendable {  // fd and port are set once; the thread only reads them
    let port: UInt16
    private let fd: Int32
    private let body: String
    private let stopped = Atomic<Bool>(false)

    init(body: String) throws {
        self.body = body
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 64) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else { close(fd); throw ChildProcess.Failure(description: "test HTTP server: \(String(cString: strerror(errno)))") }
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in serve() }
        t.start()
    }

    private func serve() {
        while !stopped.load(ordering: .acquiring) {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue } else { return } }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            var request: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            while request.count < 65536 {
                let n = read(c, &buf, buf.count)
                if n <= 0 { break }
                request += buf[0..<n]
                if request.count >= 4, request.suffix(4).elementsEqual([13, 10, 13, 10]) { break }
            }
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
            // MSG_NOSIGNAL: a client cut off midway (a relay killed under a fetch) must not
            // end the whole test process with SIGPIPE.
            _ = reply.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(c)
        }
    }

    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
