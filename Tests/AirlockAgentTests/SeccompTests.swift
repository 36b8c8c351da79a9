import Foundation
import Testing
import AirlockNet
@testable import AirlockAgent

/// Privileged: the agent syscall filter (`seccomp.c`), met by a command spawned with
/// `ProcessSpec.seccomp` as airlock-agent in a fresh network namespace. Tests/Escape/syscalls.json
/// lists every attempt with the result the filter must give (`filtered`); Tests/Escape/probe.py
/// makes them, each raw call in a child of its own. The same attempts without the filter show
/// that each check can fail: the filter, not a missing capability, is what refuses them.
@Suite(.enabled(if: Privileged.shouldRun, Comment(rawValue: Privileged.missing ?? "")))
struct SeccompTests {
    /// One entry of syscalls.json. `kernelMayRefuse`: without the filter the kernel may refuse it
    /// with the same errno too (a capability check first, or a sysctl), so only the filtered
    /// result says something.
    struct Attempt {
        let name: String
        let fields: [String: Any]
        let filtered: String
        let kernelMayRefuse: Bool
    }

    static let escape = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Escape")

    /// The attempts for this machine (x32 only on x86_64).
    static func catalogue() throws -> [Attempt] {
        #if arch(x86_64)
        let machine = "x86_64"
        #else
        let machine = "aarch64"
        #endif
        let data = try Data(contentsOf: escape.appendingPathComponent("syscalls.json"))
        let list = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return try list.filter { ($0["machine"] as? String ?? machine) == machine }.map {
            Attempt(name: try #require($0["name"] as? String), fields: $0,
                    filtered: try #require($0["filtered"] as? String), kernelMayRefuse: $0["kernelMayRefuse"] as? Bool ?? false)
        }
    }

    /// The account `make deps` creates; nobody where it is missing outside CI.
    static func agentUser() -> AgentUser {
        if let user = try? AgentUser.resolve(sudoEnv: [:]) { return user }
        #expect(!Privileged.isCI, "airlock-agent is missing: make deps creates it")
        return nobody
    }

    /// Runs `command` as the agent user in a fresh namespace, with or without the filter.
    static func run(_ command: [String], seccomp: Bool) throws -> (output: String, status: AgentProcess.ExitStatus) {
        let s = try ScratchNamespace(); defer { s.finish() }
        var sp = try spec(command, in: s.namespace)
        let user = agentUser()
        sp.uid = user.uid; sp.gid = user.gid
        sp.seccomp = seccomp
        return try runCapturing(sp)
    }

    /// Each attempt's result by name.
    static func probe(_ attempts: [Attempt], seccomp: Bool) throws -> [String: String] {
        let probe = try String(contentsOf: escape.appendingPathComponent("probe.py"), encoding: .utf8)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: attempts.map(\.fields)), as: UTF8.self)
        let (out, status) = try run(["python3", "-c", probe, json], seccomp: seccomp)
        #expect(status == .exited(0), "probe: \(out)")
        var results: [String: String] = [:]
        for line in out.split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], let n = o["name"] else { continue }
            results[n] = o["result"]
        }
        #expect(results.count == attempts.count, "every attempt reports: \(out)")
        return results
    }

    @Test func theFilterRefusesEachEscapeAndAllowsOrdinaryCalls() throws {
        try Privileged.requirePrivilege()
        let attempts = try Self.catalogue()
        let results = try Self.probe(attempts, seccomp: true)
        for a in attempts {
            #expect(results[a.name] == a.filtered, "\(a.name): got \(results[a.name] ?? "nothing"), expected \(a.filtered)")
        }
    }

    /// Proves the test can fail: without the filter the calls it refuses give another answer
    /// (`socket AF_VSOCK` succeeds or fails with EAFNOSUPPORT, never EPERM), and the ordinary ones
    /// work the same.
    @Test func withoutTheFilterTheSameCallsAreNotRefusedByIt() throws {
        try Privileged.requirePrivilege()
        let attempts = try Self.catalogue()
        let results = try Self.probe(attempts, seccomp: false)
        #expect(results["socket AF_VSOCK"] != nil && results["socket AF_VSOCK"] != "EPERM", "\(results["socket AF_VSOCK"] ?? "nothing")")
        for a in attempts where !a.kernelMayRefuse {
            if a.filtered == "ok" {
                #expect(results[a.name] == "ok", "\(a.name): got \(results[a.name] ?? "nothing")")
            } else {
                #expect(results[a.name] != nil && results[a.name] != a.filtered, "\(a.name): \(a.filtered) without the filter too")
            }
        }
    }

    /// The filter is on for the command exactly when asked (mode 2: filter), and a filtered
    /// command that does nothing forbidden runs and exits as usual.
    @Test func theFilterIsOnOnlyWhenAsked() throws {
        try Privileged.requirePrivilege()
        for seccomp in [true, false] {
            let (out, status) = try Self.run(["cat", "/proc/self/status"], seccomp: seccomp)
            #expect(status == .exited(0))
            #expect(statusFields(out)["Seccomp"] == (seccomp ? "2" : "0"), "seccomp \(seccomp): \(out)")
        }
        #expect(try Self.run(["sh", "-c", "exit 7"], seccomp: true).status == .exited(7))
    }
}
