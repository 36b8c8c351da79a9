#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The real `airlock relay` binary between real py-libp2p 0.8.1 peers (Tests/Interop/peer.py),
/// all on 127.0.0.1: reservations, circuits carrying the xfer protocol, policy refusals, a tight
/// py refresh loop against the reservation rate limit, and a clean stop on SIGTERM.
@Suite(.serialized) struct RelayCommandInteropTests {
    /// peer.py identities (Tests/Interop/README.md): seeds 22…22 and 33…33 give these peer IDs.
    static let listenSeed = String(repeating: "22", count: 32)
    static let listenPeer = "12D3KooWLdJAwPtyQ5RFnr9wGXsQzpf3P2SeqFbYkqbfVehLu4Ns"
    static let dialSeed = String(repeating: "33", count: 32)
    static let dialPeer = "12D3KooWBRFW3HkJCLKSWb4yG6iWRBpgNjbM4FFvNsL5T5JKTqrd"

    /// Reference SHA-256 digests of the xfer payloads (Tests/Interop/README.md).
    static let digests: [String: (dial: String, listen: String)] = [
        "1M": ("58cdf688aa5ab1bf365767d7edfc596b01a9e0361a53c0d99d162417308d94f5",
               "8541181acdce96cddcb2e53f91a80f791742adc3c5f05b8d134d0ec10968fb5d"),
        "4M": ("6c42ce6c644aa8c13a44eda469cf8093b09c69afe6b07a46656e4fb3718c9a9c",
               "68aef5d599a530ee6365ebac63eb804d4ca7edefa8884edc1ccaccf9b9c7842b"),
    ]

    /// py listen (seed 22) is a service and may reserve; py dial (seed 33) is a peer with a rule to
    /// it (its own RESERVE is refused, which does not stop its CONNECT).
    static let policy = """
        { "version": 1,
          "services": { "py-listen": { "peer": "\(listenPeer)" } },
          "peers": { "py-dial": { "peer": "\(dialPeer)" } },
          "rules": [ { "from": "py-dial", "to": "py-listen" } ] }
        """

    /// A running `airlock relay` in its own directory, with a fresh key and `policy`.
    final class RelayUnderTest {
        let dir: TempDir
        let child: ChildProcess
        /// The `listening` multiaddr, `/ip4/127.0.0.1/tcp/P/p2p/<relay>`.
        let address: String

        /// `config` (JSON with `PORT` for a free port) runs `--config`; otherwise flags with port 0.
        init(policy: String = RelayCommandInteropTests.policy, config: String? = nil) async throws {
            dir = try TempDir()
            let key = try airlock(["key", "generate", "--out", "relay.key"], in: dir)
            guard key.status == 0 else { throw ChildProcess.Failure(description: "key generate failed: \(key.stderr)") }
            try dir.write("policy.json", policy)
            var started: ChildProcess?
            var line: String?
            // A config names a fixed port; one picked free may be taken again before the bind.
            for _ in 0..<(config == nil ? 1 : 3) {
                let args: [String]
                if let config {
                    let path = try dir.write("relay.json", config.replacingOccurrences(of: "PORT", with: "\(try freePort())"))
                    args = ["relay", "--config", path]
                } else {
                    args = ["relay", "--listen", "127.0.0.1:0", "--key", dir.file("relay.key"), "--policy", dir.file("policy.json"), "--no-hub"]
                }
                let c = try ChildProcess(airlockBinary(), args, name: "airlock relay", directory: dir.path)
                started = c
                line = try? await c.nextLine(timeout: 30, "a listening line") { $0.hasPrefix("listening ") }
                if line != nil { break }
                c.kill()
            }
            guard let started, let line else {
                throw ChildProcess.Failure(description: "the relay did not start: \(started?.stderrText ?? "")")
            }
            child = started
            address = String(line.dropFirst("listening ".count))
        }

        var log: [String] { child.stderrLines }

        /// Log lines of `event` containing every one of `parts`.
        func lines(_ event: String, _ parts: String...) -> [String] {
            log.filter { l in l.contains(" \(event) ") && parts.allSatisfy { l.contains($0) } }
        }

        /// Polls the log until `count` lines of `event` with `parts` are there.
        func waitFor(_ event: String, _ parts: String..., count: Int = 1, timeout: Double = 15) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if log.filter({ l in l.contains(" \(event) ") && parts.allSatisfy { l.contains($0) } }).count >= count { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw ChildProcess.Failure(description: "no \(count)× \(event) \(parts) in the relay log within \(timeout) s:\n\(log.suffix(40).joined(separator: "\n"))")
        }

        /// SIGTERM, then the exit status (nil if it did not exit within 10 s).
        func terminate() async throws -> Int32? {
            child.signal(SIGTERM)
            return try await child.waitForExit(timeout: 10)
        }
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ChildProcess.Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                bind(fd, sp, len) == 0 && getsockname(fd, sp, &len) == 0
            }
        }
        guard ok else { throw ChildProcess.Failure(description: "bind: \(errno)") }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    /// Runs py `listen` (seed 22) on the relay until it reports its reservation.
    static func startListener(_ relay: RelayUnderTest) async throws -> ChildProcess {
        let listener = try InteropPython.peer(["listen", "--relay", relay.address, "--seed", listenSeed, "--timeout", "600"])
        let ready = InteropPython.event(try await listener.nextLine(timeout: 60, "ready") { InteropPython.event($0)["event"] as? String == "ready" })
        #expect(ready["peer_id"] as? String == listenPeer)
        #expect(ready["reserved"] as? Bool == true)
        return listener
    }

    /// Runs py `dial --bytes size` (seed `seed`) to the listener; its result line and exit status.
    static func dial(_ relay: RelayUnderTest, size: String, seed: String = dialSeed) async throws -> ([String: Any], Int32?) {
        let dialer = try InteropPython.peer(["dial", "--relay", relay.address, "--target", listenPeer, "--seed", seed,
                                             "--bytes", size, "--timeout", "120"])
        defer { dialer.kill() }
        let line = try? await dialer.nextLine(timeout: 120, "a result") { InteropPython.event($0)["event"] as? String == "result" }
        let status = try await dialer.waitForExit(timeout: 30)
        return (line.map(InteropPython.event) ?? ["stderr": dialer.stderrText.suffix(3000)], status)
    }

    /// Checks a py dial result: ok, `size` each way, the reference digests.
    static func expectTransfer(_ r: [String: Any], _ status: Int32?, size: String) {
        let n = size == "4M" ? 4 << 20 : 1 << 20
        let d = digests[size]!
        #expect(status == 0, "\(r)")
        #expect(r["ok"] as? Bool == true, "\(r)")
        #expect(r["eof"] as? Bool == true, "\(r)")
        #expect((r["sent"] as? NSNumber)?.intValue == n && (r["received"] as? NSNumber)?.intValue == n, "\(r)")
        #expect(r["sent_sha256"] as? String == d.dial && r["peer_received_sha256"] as? String == d.dial, "\(r)")
        #expect(r["received_sha256"] as? String == d.listen, "\(r)")
    }

    /// The integer value of `key=` in a log line.
    static func field(_ line: String, _ key: String) -> Int? {
        guard let r = line.range(of: " \(key)=") else { return nil }
        return Int(line[r.upperBound...].prefix { $0.isNumber })
    }

    @Test(.enabled(if: InteropPython.shouldRun, InteropPython.skipReason))
    func pyDialReachesPyListenerThroughTheRelayBinary() async throws {
        let relay = try await RelayUnderTest()
        defer { relay.child.kill() }
        let listener = try await Self.startListener(relay)
        defer { listener.stop() }
        try await relay.waitFor("reservation", "peer=\(Self.listenPeer)", "status=OK")

        for (i, size) in ["1M", "4M"].enumerated() {
            let (r, status) = try await Self.dial(relay, size: size)
            Self.expectTransfer(r, status, size: size)
            let xfer = InteropPython.event(try await listener.nextLine(timeout: 30, "an xfer") { InteropPython.event($0)["event"] as? String == "xfer" })
            #expect(xfer["ok"] as? Bool == true, "\(xfer)")
            #expect(xfer["received_sha256"] as? String == Self.digests[size]!.dial, "\(xfer)")
            try await relay.waitFor("circuit_closed", "src=\(Self.dialPeer)", "dst=\(Self.listenPeer)", count: i + 1)
        }

        let opened = relay.lines("circuit_opened", "src=\(Self.dialPeer)", "dst=\(Self.listenPeer)")
        let closed = relay.lines("circuit_closed", "src=\(Self.dialPeer)", "dst=\(Self.listenPeer)")
        #expect(opened.count == 2 && closed.count == 2, "\(relay.log.suffix(30))")
        // Each circuit carried its payload (plus Noise, yamux and identify overhead) each way.
        for (line, n) in zip(closed, [1 << 20, 4 << 20]) {
            let up = Self.field(line, "bytes_up") ?? 0, down = Self.field(line, "bytes_down") ?? 0
            #expect(up > n && up < n + n / 8, "\(line)")
            #expect(down > n && down < n + n / 8, "\(line)")
        }
        // The dialer's own RESERVE is refused (it is no service); its CONNECTs went through anyway.
        #expect(!relay.lines("reservation", "peer=\(Self.dialPeer)", "status=PERMISSION_DENIED").isEmpty)
        #expect(relay.lines("circuit_refused").isEmpty, "\(relay.lines("circuit_refused"))")

        listener.stop()
        #expect(try await relay.terminate() == 0)
        #expect(relay.log.contains { $0.contains(" relay_stopping ") && $0.contains("signal=SIGTERM") })
        #expect(relay.log.last?.contains(" relay_stopped") == true, "\(relay.log.suffix(5))")
        #expect(relay.log.allSatisfy { !$0.contains(" error relay ") }, "\(relay.log.filter { $0.contains(" error ") })")
    }

    @Test(.enabled(if: InteropPython.shouldRun, InteropPython.skipReason))
    func dialerTheRelayPolicyDoesNotAllowIsRefused() async throws {
        let relay = try await RelayUnderTest()
        defer { relay.child.kill() }
        let listener = try await Self.startListener(relay)
        defer { listener.stop() }

        let (r, status) = try await Self.dial(relay, size: "1M", seed: String(repeating: "44", count: 32))
        #expect(status == 1, "\(r)")
        #expect(r["ok"] as? Bool != true, "\(r)")
        try await relay.waitFor("circuit_refused", "dst=\(Self.listenPeer)", "status=PERMISSION_DENIED", "reason=unknown-peer")
        #expect(relay.lines("circuit_opened").isEmpty)
        // The listener saw no transfer and keeps its reservation.
        #expect(!listener.stdoutLines.contains { InteropPython.event($0)["event"] as? String == "xfer" })
        #expect(relay.lines("reservation_ended").isEmpty)

        listener.stop()
        #expect(try await relay.terminate() == 0)
        #expect(relay.log.last?.contains(" relay_stopped") == true)
    }

    @Test(.enabled(if: InteropPython.shouldRun, InteropPython.skipReason))
    func tightPyRefreshLoopIsRateLimitedAndTheReservationSurvives() async throws {
        // A 20 s TTL: py-libp2p refreshes whenever fewer than 30 s are left, i.e. continuously.
        let config = """
            { "version": 1, "listen": ["127.0.0.1:PORT"], "key": "relay.key", "policy": "policy.json",
              "hub": { "enabled": false }, "limits": { "reservation_ttl_seconds": 20 } }
            """
        let relay = try await RelayUnderTest(config: config)
        defer { relay.child.kill() }
        let listener = try await Self.startListener(relay)
        defer { listener.stop() }
        let since = Date()
        try await Task.sleep(for: .seconds(3))
        #expect(relay.child.isRunning && listener.isRunning)

        let granted = relay.lines("reservation", "peer=\(Self.listenPeer)", "status=OK")
        let limited = relay.lines("reservation", "peer=\(Self.listenPeer)", "status=RESOURCE_LIMIT_EXCEEDED", "reason=rate-limited")
        // The burst (8) and a refill a second were granted (as refreshes after the first); the rest refused.
        let refills = Int(Date().timeIntervalSince(since).rounded(.up)) + 1
        #expect(granted.count >= 8 && granted.count <= 8 + refills, "granted \(granted.count) in \(refills - 1) s")
        #expect(granted.dropFirst().allSatisfy { $0.contains("refreshed=true") })
        #expect(limited.count >= 20, "rate-limited \(limited.count)")
        #expect(relay.lines("reservation_ended").isEmpty, "\(relay.lines("reservation_ended"))")

        // The listener is still reachable, and the relay still answers it.
        let (r, status) = try await Self.dial(relay, size: "1M")
        Self.expectTransfer(r, status, size: "1M")
        try await relay.waitFor("circuit_closed", "dst=\(Self.listenPeer)")
        let moreLimited = relay.lines("reservation", "peer=\(Self.listenPeer)", "status=RESOURCE_LIMIT_EXCEEDED").count
        #expect(moreLimited > limited.count)
        #expect(relay.lines("reservation_ended").isEmpty)
        let bad = relay.log.filter { $0.contains(" error relay ") || $0.contains(" warn relay ") }
        #expect(bad.isEmpty, "\(bad.prefix(10))")

        listener.stop()
        #expect(try await relay.terminate() == 0)
        #expect(relay.log.last?.contains(" relay_stopped") == true)
    }
}
