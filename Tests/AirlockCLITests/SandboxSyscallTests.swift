#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Privileged: the agent syscall filter (`seccomp.c`, set by `AgentManager+Run.swift` for the
/// command) as the agent meets it inside `airlock run`, as the agent user (design §2 invariant 2).
/// Every attempt of Tests/Escape/syscalls.json, with the result it lists under `filtered`, plus
/// the real util-linux `unshare`; Tests/Escape/probe.py makes them (through `EscapeTests.probe`)
/// and prints what it tried and what came back.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct SandboxSyscallTests {
    typealias Attempt = (name: String, fields: [String: Any], filtered: String)

    /// The attempts for this machine (x32 only on x86_64); SeccompTests.swift reads the same file.
    static func catalogue() throws -> [Attempt] {
        #if arch(x86_64)
        let machine = "x86_64"
        #else
        let machine = "aarch64"
        #endif
        let data = try Data(contentsOf: URL(fileURLWithPath: packageRoot() + "/Tests/Escape/syscalls.json"))
        let list = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return try list.filter { ($0["machine"] as? String ?? machine) == machine }.map {
            (try #require($0["name"] as? String), $0, try #require($0["filtered"] as? String))
        }
    }

    static func check(_ results: [String: String], _ attempts: [Attempt], sourceLocation: SourceLocation = #_sourceLocation) {
        for a in attempts {
            #expect(results[a.name] == a.filtered, "\(a.name): got \(results[a.name] ?? "nothing"), expected \(a.filtered)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func escapeCallsFailAndOrdinaryCallsWork() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let refused = "unshare: unshare failed: Operation not permitted"
        let attempts = try Self.catalogue() + [
            ("unshare -Urn true", ["kind": "command", "argv": ["unshare", "-Urn", "true"]], refused),
            ("unshare -m true", ["kind": "command", "argv": ["unshare", "-m", "true"]], refused),
        ]
        let results = try await EscapeTests.probe(rig, attempts.map { ($0.name, $0.fields) })
        Self.check(results, attempts)
    }

    /// TIOCSTI on the terminal `airlock run` was given as stdin: a pty's follower, whose leader
    /// the launcher holds (python3 opens it and execs `airlock run`, as a terminal emulator would).
    /// While that pty is not the agent's controlling terminal the kernel refuses TIOCSTI too; the
    /// catalogue's "ioctl TIOCSTI on its controlling pty" is the check only the filter passes.
    @Test func keystrokesCannotBeInjectedIntoTheTerminal() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let onAPty = "exec /usr/bin/python3 -c 'import os, sys; l, f = os.openpty(); os.set_inheritable(l, True); "
            + "os.dup2(f, 0); os.execv(sys.argv[1], sys.argv[1:])' \"$0\" \"$@\""
        let inject = try #require(try Self.catalogue().first { $0.name == "ioctl TIOCSTI on stdin" })
        let attempts: [Attempt] = [("stdin is a terminal", ["kind": "command", "argv": ["test", "-t", "0"]], "ok"), inject]
        let results = try await EscapeTests.probe(rig, attempts.map { ($0.name, $0.fields) }, wrapper: onAPty)
        Self.check(results, attempts)
    }
}
