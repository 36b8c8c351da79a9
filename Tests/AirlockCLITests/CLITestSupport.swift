import Foundation
import Testing
import AirlockCLI

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
    let outPath = dir.file(".stdout-\(UUID().uuidString)"), errPath = dir.file(".stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: dir.path)
    p.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = out
    p.standardError = err
    try p.run()
    p.waitUntilExit()
    try out.close()
    try err.close()
    return RunResult(status: p.terminationStatus,
                     stdout: try String(contentsOfFile: outPath, encoding: .utf8),
                     stderr: try String(contentsOfFile: errPath, encoding: .utf8))
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
]

/// The first line of a help text.
func usageLine(_ help: String) -> String { String(help.split(separator: "\n").first ?? "") }
