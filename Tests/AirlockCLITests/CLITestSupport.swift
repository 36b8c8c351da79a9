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
    (["exit"], ExitCommand.help),
    (["relay"], RelayCommand.help),
]

/// The first line of a help text.
func usageLine(_ help: String) -> String { String(help.split(separator: "\n").first ?? "") }

/// A long-running child (`airlock relay`, a py-libp2p peer) whose stdout is split into lines and
/// whose stderr is kept (up to 16 MiB), for tests that talk to it while it runs. `deinit` kills
/// it, so a failing test never leaves a process behind.
final class ChildProcess: @unchecked Sendable {  // mutable state is behind `state`'s mutex
    struct Failure: Error, CustomStringConvertible { let description: String }

    let process = Process()
    let name: String
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private final class Output: Sendable {
        let m = Mutex<(out: [UInt8], lines: [String], read: Int, err: [UInt8])>(([], [], 0, []))
    }
    private let state = Output()

    init(_ executable: String, _ arguments: [String], name: String? = nil, directory: String? = nil,
         environment: [String: String]? = nil) throws {
        self.name = name ?? URL(fileURLWithPath: executable).lastPathComponent
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        stdoutPipe.fileHandleForReading.readabilityHandler = { [state] h in
            let chunk = h.availableData
            state.m.withLock { s in
                s.out += chunk
                while let nl = s.out.firstIndex(of: UInt8(ascii: "\n")) {
                    s.lines.append(String(decoding: s.out[..<nl], as: UTF8.self))
                    s.out.removeSubrange(...nl)
                }
            }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { [state] h in
            let chunk = h.availableData
            state.m.withLock { s in if s.err.count < 16 << 20 { s.err += chunk } }
        }
        try process.run()
    }

    deinit { kill() }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var stderrText: String { state.m.withLock { String(decoding: $0.err, as: UTF8.self) } }
    var stderrLines: [String] { stderrText.split(separator: "\n").map(String.init) }
    /// Every stdout line so far, read or not.
    var stdoutLines: [String] { state.m.withLock { $0.lines } }

    /// The next unread stdout line that satisfies `matching` (unread lines before it are passed
    /// over); fails if the process exits first or `timeout` seconds pass.
    func nextLine(timeout: Double, _ what: String, _ matching: (String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let line = state.m.withLock { s -> String? in
                guard s.read < s.lines.count else { return nil }
                s.read += 1
                return s.lines[s.read - 1]
            }
            if let line {
                if matching(line) { return line }
                continue
            }
            if !process.isRunning {
                try await Task.sleep(for: .milliseconds(100))  // lines may still be in the pipe
                if state.m.withLock({ $0.read == $0.lines.count }) {
                    throw Failure(description: "\(name) exited (\(process.terminationStatus)) before \(what); stderr: \(stderrText.suffix(3000))")
                }
                continue
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "no \(what) from \(name) within \(timeout) s; stderr: \(stderrText.suffix(3000))")
    }

    /// Waits up to `timeout` seconds for the exit; its status, or nil if it still runs.
    func waitForExit(timeout: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard !process.isRunning else { return nil }
        process.waitUntilExit()
        try await Task.sleep(for: .milliseconds(100))  // let the pipes drain into `state`
        return process.terminationStatus
    }

    func signal(_ sig: Int32) { if process.isRunning { _ = Glibc.kill(process.processIdentifier, sig) } }

    /// Closes stdin (py peers exit 0 on EOF), waits up to `grace` seconds, then kills.
    func stop(grace: Double = 5) {
        try? stdinPipe.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        kill()
    }

    /// SIGKILL now (a no-op once it has exited) and reap it.
    func kill() {
        if process.isRunning { _ = Glibc.kill(process.processIdentifier, SIGKILL) }
        if process.processIdentifier > 0 { process.waitUntilExit() }
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }
}

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
