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
    let pid: pid_t
    let address: SocketAddress
    let peerID: PeerID
    let logPath: String
    private var stdoutFD: Int32
    private var running = true

    /// Seconds the child has to print its `listening` line.
    static let startTimeout = 20.0

    /// Writes key, policy and config into `dir` (names suffixed with `tag`) and starts the relay.
    init(binary: String, dir: String, tag: String, service: PeerID, client: PeerID, limits: [(String, Int)]) throws {
        let key = Ed25519PrivateKey()
        peerID = PeerID(publicKey: key.publicKey)
        let keyPath = "\(dir)/relay-\(tag).key", policyPath = "\(dir)/policy-\(tag).json"
        let configPath = "\(dir)/relay-\(tag).json"
        logPath = "\(dir)/relay-\(tag).log"
        do { try KeyFile.write(key, to: keyPath) } catch { throw CommandFailure("bench: cannot write \(keyPath): \(error.message)") }
        try BenchRelay.writeFile(policyPath, BenchRelay.policy(service: service, client: client))
        let limitText = limits.map { "    \(JSONNode.quoted($0.0)): \($0.1)" }.joined(separator: ",\n")
        try BenchRelay.writeFile(configPath, """
            {
              "version": 1,
              "listen": ["127.0.0.1:\(try BenchRelay.freePort())"],
              "key": \(JSONNode.quoted(keyPath)),
              "policy": \(JSONNode.quoted(policyPath)),
              "hub": { "enabled": false },
              "control_socket": \(JSONNode.quoted("\(dir)/control-\(tag).sock")),
              "log_level": "warn",
              "limits": {
            \(limitText)
              }
            }

            """)

        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CommandFailure("bench: pipe: \(Output.errnoText())") }
        // Close-on-exec, so later relays do not inherit this one's pipe (dup2 clears it on fd 1).
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard logFD >= 0 else {
            close(fds[0]); close(fds[1])
            throw CommandFailure("bench: cannot create \(logPath): \(Output.errnoText())")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        let args = [binary, "relay", "--config", configPath]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child = pid_t()
        let rc = posix_spawn(&child, binary, &actions, nil, &argv, environ)
        close(fds[1])
        close(logFD)
        guard rc == 0 else {
            close(fds[0])
            throw CommandFailure("bench: cannot start \(binary) relay: \(String(cString: strerror(rc)))")
        }
        pid = child
        stdoutFD = fds[0]
        do {
            let line = try BenchRelay.readLine(stdoutFD, timeout: BenchRelay.startTimeout)
            // `listening /ip4/127.0.0.1/tcp/PORT/p2p/ID`
            let parts = line.split(separator: "/")
            guard line.hasPrefix("listening "), parts.count >= 6, let port = UInt16(parts[4]), parts.last.map(String.init) == peerID.description else {
                throw CommandFailure("bench: unexpected first line from the relay: \(line)")
            }
            address = .loopbackV4(port: port)
        } catch {
            kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
            close(fds[0])
            throw CommandFailure("\(error)\n\(BenchRelay.tail(logPath))")
        }
    }

    deinit { stop() }

    /// CPU time the relay used so far.
    func cpu() throws -> BenchProbe.CPU {
        guard let c = BenchProbe.processCPU(pid) else { throw CommandFailure("bench: the relay (pid \(pid)) is gone\n\(BenchRelay.tail(logPath))") }
        return c
    }

    /// The relay's resident memory in KiB.
    func residentKiB() throws -> Int {
        guard let k = BenchProbe.residentKiB(pid) else { throw CommandFailure("bench: the relay (pid \(pid)) is gone\n\(BenchRelay.tail(logPath))") }
        return k
    }

    /// SIGTERM, then SIGKILL if it has not exited within 3 s; reaps it.
    func stop() {
        guard running else { return }
        running = false
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<300 {
            if waitpid(pid, &status, WNOHANG) == pid { close(stdoutFD); return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        close(stdoutFD)
    }

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

    /// One line from `fd`, waiting at most `timeout` seconds in all.
    private static func readLine(_ fd: Int32, timeout: Double) throws -> String {
        var line: [UInt8] = []
        let deadline = BenchProbe.wallSeconds() + timeout
        var byte: UInt8 = 0
        while true {
            let left = deadline - BenchProbe.wallSeconds()
            guard left > 0 else { throw CommandFailure("bench: the relay printed no listening line within \(timeout) s") }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(left * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { throw CommandFailure("bench: the relay exited before it was listening") }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
    }

    /// The last lines of the relay's log, for an error message.
    static func tail(_ path: String) -> String {
        let lines = (BenchProbe.readText(path) ?? "").split(separator: "\n").suffix(10)
        return lines.isEmpty ? "(the relay log \(path) is empty)" : "relay log \(path):\n" + lines.joined(separator: "\n")
    }
}
