#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy

/// The product's whole path, built as an operator would (Relay/demo.sh), for the throughput,
/// latency and scale phases:
///
///     agent program ──lo──▶ shim ══veth══▶ relay ══lo══▶ airlock expose ──lo──▶ sink / echo
///     (airlock bench --probe, in an agent namespace)      (child processes)     (this process)
///
/// * the relay: a child `airlock relay` with its hub (prefix `BenchCleanup.hubPrefix`, root only) and control
///   socket, and a policy with one agent, two services (`sink`, `echo`) and one plain peer
///   (`bench-client`, the in-process client of the new-circuit latency phase);
/// * two service peers: child `airlock expose` processes, `sink` targeting a blocking sink in
///   this process (the throughput phase), `echo` targeting `BenchEcho` on the bench's loop;
/// * agents: `airlock run --forward 7001=sink --forward 7002=echo -- airlock bench --probe …`,
///   started per phase (`startAgent`); the relay builds each one's namespace, veth and shim.
///
/// `stop` (or deinit) stops the children; the relay removes its hub and agents on SIGTERM.
final class BenchPath {
    static let sinkPort: UInt16 = 7001
    static let echoPort: UInt16 = 7002

    let binary: String
    let dir: String
    let agentDir: String
    let controlPath: String
    let relay: BenchRelay
    let sinkService: BenchChild
    let echoService: BenchChild
    let echoPeer: PeerID
    let clientKey = Ed25519PrivateKey()
    /// The sink's listener (blocking) on 127.0.0.1.
    let sinkListener: Int32
    let loop: EventLoop
    private let echo = LoopBox<BenchEcho>()

    init(binary: String, dir: BenchTempDir, loop: EventLoop) throws {
        self.binary = binary
        self.dir = dir.path
        self.loop = loop
        agentDir = try dir.subdirectory("agent")
        // The relay makes the directory itself, with the ownership it checks.
        controlPath = "\(dir.path)/control/control.sock"
        sinkListener = try BenchSendReceive.socket()
        let sinkPort = try BenchSendReceive.listen(sinkListener, ip: BenchAgentProbe.loopback)
        let made = BenchWait<Result<SocketAddress, CommandFailure>>()
        loop.execute { [echo] in
            do {
                let e = try BenchEcho(loop: loop)
                echo.value = e
                made.finish(.success(e.address))
            } catch { made.finish(.failure(error as? CommandFailure ?? CommandFailure("\(error)"))) }
        }
        guard let echoAddress = try made.wait(seconds: 10)?.get() else { throw CommandFailure("bench: the echo service did not start") }

        let sinkKey = Ed25519PrivateKey(), echoKey = Ed25519PrivateKey()
        echoPeer = PeerID(publicKey: echoKey.publicKey)
        let policy = BenchPath.policy(sink: PeerID(publicKey: sinkKey.publicKey), echo: echoPeer,
                                      client: PeerID(publicKey: clientKey.publicKey))
        relay = try BenchRelay(binary: binary, dir: self.dir, tag: "path", policy: policy,
                               limits: [("max_circuits_per_peer", 8192), ("max_streams_per_connection", 16384)],
                               hubPrefix: BenchCleanup.hubPrefix, controlPath: controlPath)
        sinkService = try BenchPath.expose("sink", key: sinkKey, target: "127.0.0.1:\(sinkPort)", binary: binary, dir: self.dir, relay: relay)
        echoService = try BenchPath.expose("echo", key: echoKey, target: "\(echoAddress)", binary: binary, dir: self.dir, relay: relay)
    }

    deinit { stop() }

    func stop() {
        echoService.stop()
        sinkService.stop()
        relay.stop()
        let done = BenchWait<Bool>()
        loop.execute { [echo] in
            echo.value?.close()
            echo.value = nil
            done.finish(true)
        }
        _ = done.wait(seconds: 10)
        if sinkListener >= 0 { close(sinkListener) }
    }

    /// Connections the echo service holds now (read on the loop).
    func echoConnections() -> Int {
        let n = BenchWait<Int>()
        loop.execute { [echo] in n.finish(echo.value?.open ?? 0) }
        return n.wait(seconds: 10) ?? -1
    }

    /// Starts `airlock run … -- airlock bench --probe ARGS` (stdin and stdout on pipes). The
    /// binary's directory is granted read-only: a build under /tmp (a checkout there) would
    /// otherwise be hidden by the sandbox's private /tmp.
    func startAgent(_ probe: [String], tag: String) throws -> BenchChild {
        let binaryDir = binary.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let argv = [binary, "run", "--control", controlPath, "--workdir", agentDir, "--ro", binaryDir.isEmpty ? "/" : binaryDir,
                    "--forward", "\(BenchPath.sinkPort)=sink", "--forward", "\(BenchPath.echoPort)=echo",
                    "--", binary, "bench", "--probe"] + probe
        return try BenchChild(name: "agent (\(tag))", argv: argv, logPath: "\(dir)/agent-\(tag).log", stdin: true)
    }

    /// The shim and the probe of the runs now alive: the relay's descendants.
    func agentProcesses() -> (shims: [pid_t], probes: [pid_t]) {
        let tree = BenchProcTree.descendants(of: relay.pid)
        return (tree.filter { $0.argv.dropFirst().first == "shim" }.map(\.pid),
                tree.filter { $0.argv.contains("--probe") }.map(\.pid))
    }

    static func expose(_ name: String, key: Ed25519PrivateKey, target: String, binary: String, dir: String,
                       relay: BenchRelay) throws -> BenchChild {
        let keyPath = "\(dir)/\(name).key"
        do { try KeyFile.write(key, to: keyPath) } catch { throw CommandFailure("bench: cannot write \(keyPath): \(error.message)") }
        let child = try BenchChild(name: "service \(name)", argv: [binary, "expose", name, "--target", target, "--relay", relay.multiaddr,
                                                                   "--key", keyPath, "--log-level", "warn"],
                                   logPath: "\(dir)/expose-\(name).log")
        let line = try child.readLine(timeout: 30, "exposed line")
        guard line.hasPrefix("exposed ") else { throw child.failure("printed \(line)") }
        return child
    }

    static func policy(sink: PeerID, echo: PeerID, client: PeerID) -> String {
        """
        {
          "version": 1,
          "agents": { "bench": { "uid": 0, "note": "airlock bench: the probes it runs in agent namespaces" } },
          "services": {
            "sink": { "peer": "\(sink)", "note": "airlock bench: throughput sink" },
            "echo": { "peer": "\(echo)", "note": "airlock bench: echo for latency and scale" }
          },
          "peers": { "bench-client": { "peer": "\(client)", "note": "airlock bench: new-circuit latency" } },
          "rules": [
            { "from": "bench", "to": "sink" },
            { "from": "bench", "to": "echo" },
            { "from": "bench-client", "to": "echo" }
          ]
        }

        """
    }
}

/// A loop-owned value handed around from the bench's main thread.
/// `@unchecked Sendable`: `value` is only read or written on the loop's thread (inside `execute`).
final class LoopBox<T>: @unchecked Sendable {
    var value: T?
}

/// Processes below a given one, from `/proc/*/stat` (parent) and `/proc/*/cmdline`.
enum BenchProcTree {
    struct Process { let pid: pid_t; let argv: [String] }

    static func descendants(of root: pid_t) -> [Process] {
        var children: [pid_t: [pid_t]] = [:]
        guard let dir = opendir("/proc") else { return [] }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), let stat = BenchProbe.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let ppid = pid_t(fields[1]) { children[ppid, default: []].append(pid) }
        }
        closedir(dir)
        var out: [Process] = []
        var queue = children[root] ?? []
        while let pid = queue.popLast() {
            let cmdline = BenchProbe.readText("/proc/\(pid)/cmdline") ?? ""
            out.append(Process(pid: pid, argv: cmdline.split(separator: "\0").map(String.init)))
            queue += children[pid] ?? []
        }
        return out
    }
}
