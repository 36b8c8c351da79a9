#if canImport(Glibc)
import AirlockPolicy
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO

/// A relay under test: this same executable run as `airlock relay --config FILE` in a child
/// process, so its CPU time and memory can be read from `/proc/PID` apart from the peers that
/// drive it. Listens on 127.0.0.1 (a port the kernel just reported free, confirmed by its
/// `listening` line), logs warnings only, to `relay-N.log` in the bench's directory.
///
/// The policy lists the bench's service peer (which reserves) and client peer, with one rule
/// between them; `limits` widen the relay's caps so every circuit and connection of the run fits.
final class BenchRelay {
    let child: BenchChild
    let address: SocketAddress
    let peerID: PeerID
    var pid: pid_t { child.pid }
    var logPath: String { child.logPath }
    /// The multiaddr services and clients are given, `/ip4/127.0.0.1/tcp/PORT/p2p/ID`.
    let multiaddr: String

    /// Seconds the child has to print its `listening` line (a hub takes a moment to build).
    static let startTimeout = 20.0

    /// Writes key, policy and config into `dir` (names suffixed with `tag`) and starts the relay.
    /// With `hubPrefix` the relay builds its hub namespace and serves its control socket at
    /// `controlPath` (root only); otherwise it has no hub.
    convenience init(binary: String, dir: String, tag: String, service: PeerID, client: PeerID, limits: [(String, Int)]) throws {
        try self.init(binary: binary, dir: dir, tag: tag, policy: BenchRelay.policy(service: service, client: client), limits: limits)
    }

    init(binary: String, dir: String, tag: String, policy: String, limits: [(String, Int)], hubPrefix: String? = nil,
         controlPath: String? = nil, logLevel: String = "warn") throws {
        let key = Ed25519PrivateKey()
        peerID = PeerID(publicKey: key.publicKey)
        let keyPath = "\(dir)/relay-\(tag).key", policyPath = "\(dir)/policy-\(tag).json"
        let configPath = "\(dir)/relay-\(tag).json"
        do { try KeyFile.write(key, to: keyPath) } catch { throw CommandFailure("bench: cannot write \(keyPath): \(error.message)") }
        try BenchRelay.writeFile(policyPath, policy)
        let limitText = limits.map { "    \(JSONNode.quoted($0.0)): \($0.1)" }.joined(separator: ",\n")
        let hub = hubPrefix.map { "{ \"enabled\": true, \"namespace_prefix\": \(JSONNode.quoted($0)) }" } ?? "{ \"enabled\": false }"
        try BenchRelay.writeFile(configPath, """
            {
              "version": 1,
              "listen": ["127.0.0.1:\(try BenchRelay.freePort())"],
              "key": \(JSONNode.quoted(keyPath)),
              "policy": \(JSONNode.quoted(policyPath)),
              "hub": \(hub),
              "control_socket": \(JSONNode.quoted(controlPath ?? "\(dir)/control-\(tag).sock")),
              "log_level": \(JSONNode.quoted(logLevel)),
              "limits": {
            \(limitText)
              }
            }

            """)
        child = try BenchChild(name: "relay (\(tag))", argv: [binary, "relay", "--config", configPath], logPath: "\(dir)/relay-\(tag).log",
                               stopsLast: true)
        do {
            let line = try child.readLine(timeout: BenchRelay.startTimeout, "listening line")
            // `listening /ip4/127.0.0.1/tcp/PORT/p2p/ID`
            let parts = line.split(separator: "/")
            guard line.hasPrefix("listening "), parts.count >= 6, let port = UInt16(parts[4]), parts.last.map(String.init) == peerID.description else {
                throw child.failure("printed an unexpected first line: \(line)")
            }
            address = .loopbackV4(port: port)
            multiaddr = String(line.dropFirst("listening ".count))
        } catch {
            child.stop(signal: SIGKILL)
            throw error
        }
    }

    deinit { stop() }

    /// CPU time the relay used so far.
    func cpu() throws -> BenchProbe.CPU {
        guard let c = BenchProbe.processCPU(pid) else { throw child.failure("(pid \(pid)) is gone") }
        return c
    }

    /// The relay's resident memory in KiB.
    func residentKiB() throws -> Int {
        guard let k = BenchProbe.residentKiB(pid) else { throw child.failure("(pid \(pid)) is gone") }
        return k
    }

    /// SIGTERM (a hub relay then removes its namespaces), then SIGKILL if it has not exited
    /// within 5 s; reaps it.
    func stop() { child.stop() }

    /// A loopback port that is free now. A config file may not ask for port 0, so the bench
    /// asks the kernel for one and hands it over; the relay's `listening` line confirms it.
    static func freePort() throws -> UInt16 {
        do {
            let s = try Socket.listenTCP(on: .loopbackV4(port: 0), backlog: 1)
            defer { s.close() }
            return try s.localAddress().port
        } catch {
            throw CommandFailure("bench: cannot find a free loopback port: \(error)")
        }
    }

    static func policy(service: PeerID, client: PeerID) -> String {
        """
        {
          "version": 1,
          "services": { "bench-service": { "peer": "\(service)", "note": "airlock bench: reserves and sinks" } },
          "peers": { "bench-client": { "peer": "\(client)", "note": "airlock bench: connects and sends" } },
          "rules": [ { "from": "bench-client", "to": "bench-service" } ]
        }

        """
    }

    static func writeFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0, Output.writeAll(fd, Array(text.utf8)) else {
            if fd >= 0 { close(fd) }
            throw CommandFailure("bench: cannot write \(path): \(Output.errnoText())")
        }
        close(fd)
    }

    /// The last lines of the relay's log, for an error message.
    static func tail(_ path: String) -> String { BenchChild.tail(path, "relay") }
}
