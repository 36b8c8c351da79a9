#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
@testable import AirlockCLI

/// The package root: this file is <root>/Tests/AirlockCLITests/CLITestSupport.swift.
func packageRoot() -> String {
    URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

/// The built `airlock` executable (`swift build` makes it; `swift test` builds it with the tests).
func airlockBinary() -> String { packageRoot() + "/.build/debug/airlock" }

/// What one run of the executable did.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty } }
}

/// A private temporary directory, removed when the value goes away.
final class TempDir {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/airlock-cli-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// `path/name`.
    func file(_ name: String) -> String { path + "/" + name }

    /// Writes `text` to `name` with `mode`; returns the full path.
    @discardableResult
    func write(_ name: String, _ text: String, mode: Int = 0o644) throws -> String {
        let p = file(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: p)
        return p
    }

    func read(_ name: String) throws -> String { try String(contentsOfFile: file(name), encoding: .utf8) }

    func mode(_ name: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: file(name))[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
}

/// Runs `airlock args…` in `dir` with stdout and stderr captured in files (no pipe can fill
/// up and stall the child), and `environment` added to a minimal one without AIRLOCK_POLICY.
func airlock(_ args: [String], in dir: TempDir, environment: [String: String] = [:]) throws -> RunResult {
    let binary = airlockBinary()
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        Issue.record("\(binary) is missing; run `swift build` first")
        return RunResult(status: -1, stdout: "", stderr: "")
    }
    let r = try TestProcess.run(binary, args, directory: dir.path, environment: ["PATH": "/usr/bin:/bin"].merging(environment) { $1 })
    return RunResult(status: r.status, stdout: r.stdout, stderr: r.stderr)
}

/// Identities used in test policies (well-formed Ed25519 identity peer IDs).
enum IDs {
    static let reviewer = "12D3KooWJ1eukycpR36KBhsdgVzTixpvmECV6YTZJSoct1f4Z1gc"
    static let ollama = "12D3KooWHFmLe1qnPUWizb7BGJbvd6Tvk5nWfxtX8ZcRb6dqFuEf"
    static let gitMirror = "12D3KooWHFCUunzf9KhbNBPKGwtqqVEqnDe5WQmseQia1unfAJMx"
    static let ciRunner = "12D3KooWDbziXbf1h1YrET6sKLWVwv1MkCVyZyzy6rb6NAiKZd6g"
    static let stranger = "12D3KooWDGRPrwY6qE66hwpi2bH2G1Fn6xqkqH4G9RcPBW51BFYy"
}

/// A small valid policy: 2 agents (one per-run), 2 services, 1 exit, 1 peer, 4 rules.
let smallPolicy = """
    {
      "version": 1,
      "agents": {
        "coder": { "uid": 1000, "limits": { "max_circuits": 8 } },
        "reviewer": { "uid": 1001, "identity": "\(IDs.reviewer)", "note": "long-lived" }
      },
      "services": {
        "ollama": { "peer": "\(IDs.ollama)" },
        "git-mirror": { "peer": "\(IDs.gitMirror)" }
      },
      "exits": { "web": { "peer": "relay" } },
      "peers": { "ci-runner": { "peer": "\(IDs.ciRunner)" } },
      "rules": [
        { "from": "coder", "to": "ollama", "limits": { "circuit_seconds": 60 } },
        { "from": "coder", "to": "web", "destinations": ["api.github.com:443", "10.0.0.0/8:80"] },
        { "from": "reviewer", "to": "git-mirror" },
        { "from": "ci-runner", "to": "ollama" }
      ]
    }
    """

/// Every command path and its help text, for checks that apply to all of them.
let allCommands: [(path: [String], help: String)] = [
    (["key"], KeyCommand.help),
    (["key", "generate"], KeyGenerateCommand.help),
    (["key", "show"], KeyShowCommand.help),
    (["policy"], PolicyCommand.help),
    (["policy", "validate"], PolicyValidateCommand.help),
    (["policy", "show"], PolicyShowCommand.help),
    (["policy", "check"], PolicyCheckCommand.help),
    (["exit"], ExitCommand.help),
    (["relay"], RelayCommand.help),
]

/// The first line of a help text.
func usageLine(_ help: String) -> String { String(help.split(separator: "\n").first ?? "") }

/// A long-running child (`airlock relay`, a py-libp2p peer) whose stdout is split into lines and
/// whose stderr is kept, for tests that talk to it while it runs; `deinit` kills it, so a failing
/// test never leaves a process behind. Started with posix_spawn (`TestProcess`).
typealias ChildProcess = TestProcess

/// The py-libp2p interop peers (Tests/Interop/peer.py) for CLI tests. The python is
/// `$AIRLOCK_VENV/bin/python`, else `/tmp/pyvenv/bin/python`; without one the tests skip, except
/// under `CI=true`, where they run and fail.
enum InteropPython {
    static var python: String? {
        let env = ProcessInfo.processInfo.environment
        if let venv = env["AIRLOCK_VENV"], !venv.isEmpty { return "\(venv)/bin/python" }
        let dev = "/tmp/pyvenv/bin/python"
        return FileManager.default.isExecutableFile(atPath: dev) ? dev : nil
    }
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    static var shouldRun: Bool { isCI || (python.map { FileManager.default.isExecutableFile(atPath: $0) } ?? false) }
    static let skipReason: Comment = "py-libp2p venv not found (set AIRLOCK_VENV or create /tmp/pyvenv; `make test` does)"
    static var script: String { packageRoot() + "/Tests/Interop/peer.py" }

    /// Launches `peer.py <arguments>`.
    static func peer(_ arguments: [String]) throws -> ChildProcess {
        guard let python, FileManager.default.isExecutableFile(atPath: python) else {
            throw ChildProcess.Failure(description: "no python for the interop peers: \(python ?? "/tmp/pyvenv/bin/python") is missing (set AIRLOCK_VENV or run `make venv`)")
        }
        return try ChildProcess(python, [script] + arguments, name: "peer.py \(arguments.first ?? "")")
    }

    /// The JSON object of a peer.py stdout line (empty if it is not one).
    static func event(_ line: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }
}
