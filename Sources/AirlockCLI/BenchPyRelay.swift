#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO

/// The peer baseline: the same transfer as the relay phase (the same in-process client and
/// service peers, one stream, every byte checked) through py-libp2p 0.8.1's Circuit Relay v2
/// relay (`Tests/Interop/peer.py relay`, the interop tests' relay) instead of ours. The python
/// is `$AIRLOCK_VENV/bin/python`, else `.venv/bin/python` of the source tree the executable was
/// built in (`make venv` makes it); the relay is a child on 127.0.0.1 that exits when its stdin
/// closes.
enum BenchPyRelay {
    /// The python and peer.py, or why they are missing.
    static func locate(binary: String) -> Result<(python: String, script: String), CommandFailure> {
        var root = binary
        var script: String?
        for _ in 0..<6 {
            root = String(root[..<(root.lastIndex(of: "/") ?? root.startIndex)])
            if root.isEmpty { break }
            if access("\(root)/Tests/Interop/peer.py", R_OK) == 0 { script = "\(root)/Tests/Interop/peer.py"; break }
        }
        guard let script else {
            return .failure(CommandFailure("Tests/Interop/peer.py not found above \(binary) (run the bench from a build in the source tree)"))
        }
        let venv = getenv("AIRLOCK_VENV").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "\(root)/.venv"
        let python = "\(venv)/bin/python"
        guard access(python, X_OK) == 0 else {
            return .failure(CommandFailure("\(python) is missing: run `make venv` (py-libp2p for the peer baseline) or set AIRLOCK_VENV"))
        }
        return .success((python, script))
    }

    static func measure(python: String, script: String, dir: String, loop: EventLoop, bytes: Int) throws -> BenchTransfer.Measurement {
        // No per-circuit data or time limit that the transfer could reach.
        let relay = try BenchChild(name: "py-libp2p relay", argv: [python, script, "relay", "--port", "0", "--limit-data", "1024g",
                                                                   "--limit-duration", "3600", "--timeout", "1800"],
                                   logPath: "\(dir)/py-relay.log", stdin: true)
        defer { relay.stop() }
        let line = try relay.readLine(timeout: 60, "ready line")
        guard let peerText = field("peer_id", in: line), let peer = try? PeerID(peerText),
              let portText = line.range(of: "/ip4/127.0.0.1/tcp/").map({ line[$0.upperBound...].prefix { $0.isNumber } }),
              let port = UInt16(portText) else {
            throw relay.failure("printed an unexpected ready line: \(line)")
        }
        let pid = relay.pid
        return try BenchTransfer.run(relay: .loopbackV4(port: port), relayPeer: peer, cpu: {
            guard let c = BenchProbe.processCPU(pid) else { throw relay.failure("is gone") }
            return c
        }, log: relay.logPath, loop: loop, bytes: bytes, serviceKey: Ed25519PrivateKey(), clientKey: Ed25519PrivateKey())
    }

    /// The string value of `"key": "…"` in a JSON line.
    static func field(_ key: String, in line: String) -> String? {
        guard let r = line.range(of: "\"\(key)\": \"") else { return nil }
        let rest = line[r.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
}
