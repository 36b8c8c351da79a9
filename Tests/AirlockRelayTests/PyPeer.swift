#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import AirlockCore
import AirlockIO

/// A py-libp2p 0.8.1 peer from Tests/Interop/peer.py (`relay`, `listen`, `dial`), run as a child
/// process for interop tests. stdout carries one JSON object per line; `next(_:)` waits for one.
///
/// The python comes from `$AIRLOCK_VENV/bin/python` (set by `make test`), else `/tmp/pyvenv`.
/// Without either, interop tests skip, except under `CI=true`, where they run and fail.
/// `stop()` closes stdin (peer.py's clean exit) and kills after 5 s; `kill()` sends SIGKILL at
/// once; `deinit` kills too, so a failing test never leaves a process behind.
final class PyPeer: @unchecked Sendable {  // mutable state is behind `state`'s mutex
    struct Event: Sendable, CustomStringConvertible {
        let line: String
        var description: String { line }
        private var object: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        }
        var name: String? { object["event"] as? String }
        func string(_ key: String) -> String? { object[key] as? String }
        func int(_ key: String) -> Int? { (object[key] as? NSNumber)?.intValue }
        func bool(_ key: String) -> Bool? { (object[key] as? NSNumber)?.boolValue }
        func strings(_ key: String) -> [String] { object[key] as? [String] ?? [] }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    static var python: String? {
        let env = ProcessInfo.processInfo.environment
        if let venv = env["AIRLOCK_VENV"], !venv.isEmpty { return "\(venv)/bin/python" }
        let dev = "/tmp/pyvenv/bin/python"
        return FileManager.default.isExecutableFile(atPath: dev) ? dev : nil
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop/peer.py").path

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Whether interop tests run: always under CI (missing python then fails loudly), else only
    /// when the venv exists.
    static var shouldRun: Bool {
        isCI || (python.map { FileManager.default.isExecutableFile(atPath: $0) } ?? false)
    }
    static let skipReason: Comment = "py-libp2p venv not found (set AIRLOCK_VENV or create /tmp/pyvenv; `make test` does)"

    let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private final class Output: Sendable {
        let m = Mutex<(out: [UInt8], lines: [String], err: [UInt8])>(([], [], []))
        func withLock<R>(_ body: (inout (out: [UInt8], lines: [String], err: [UInt8])) -> R) -> R { m.withLock { body(&$0) } }
    }
    private let state = Output()
    let arguments: [String]

    /// Launches `peer.py <arguments>`.
    init(_ arguments: [String]) throws {
        guard let python = PyPeer.python, FileManager.default.isExecutableFile(atPath: python) else {
            throw Failure(description: "no python for the interop peers: \(PyPeer.python ?? "/tmp/pyvenv/bin/python") is missing (set AIRLOCK_VENV or run `make venv`)")
        }
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [PyPeer.script] + arguments
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        stdoutPipe.fileHandleForReading.readabilityHandler = { [state] h in
            let chunk = h.availableData
            state.withLock { s in
                s.out += chunk
                while let nl = s.out.firstIndex(of: UInt8(ascii: "\n")) {
                    s.lines.append(String(decoding: s.out[..<nl], as: UTF8.self))
                    s.out.removeSubrange(...nl)
                }
            }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { [state] h in
            let chunk = h.availableData
            state.withLock { s in if s.err.count < 1 << 20 { s.err += chunk } }
        }
        try process.run()
    }

    deinit { kill() }

    var pid: Int32 { process.processIdentifier }
    var stderrText: String { state.withLock { String(decoding: $0.err, as: UTF8.self) } }

    /// The next stdout event named `name` (earlier lines with other names are dropped).
    func next(_ name: String, timeout: Double) async throws -> Event {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let line = state.withLock { s -> String? in s.lines.isEmpty ? nil : s.lines.removeFirst() }
            if let line {
                let e = Event(line: line)
                if e.name == name { return e }
                continue
            }
            if !process.isRunning {
                // Lines may still be in flight from the pipe; give them a moment.
                try await Task.sleep(for: .milliseconds(100))
                if state.withLock({ $0.lines.isEmpty }) {
                    throw Failure(description: "peer.py \(arguments.first ?? "") exited (\(process.terminationStatus)) before \"\(name)\"; stderr: \(stderrText.suffix(2000))")
                }
                continue
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "no \"\(name)\" from peer.py \(arguments.first ?? "") within \(timeout) s; stderr: \(stderrText.suffix(2000))")
    }

    /// Closes stdin (peer.py exits 0 on EOF) and waits up to `grace` seconds, then kills.
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

/// An event loop thread for tests that mix loop work with waiting on child processes.
/// Objects handed to `keep` live until the loop stops, and are freed on the loop thread.
final class RelayClientTestLoop: Sendable {
    let thread: EventLoopThread
    var loop: EventLoop { thread.loop }

    init() throws { thread = try EventLoopThread(name: "relayclient-test") }

    /// Ends the loop thread; everything kept or registered is freed there.
    func stop() { thread.stopAndJoin() }

    /// Runs `body` on the loop and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await loop.submit(body)
    }

    /// Runs `body` on the loop and waits until it calls `done`, or fails after `timeout` seconds.
    func wait<T: Sendable>(timeout: Double,
                           _ body: @escaping @Sendable (EventLoop, @escaping @Sendable (Result<T, any Error>) -> Void) -> Void) async throws -> T {
        let loop = self.loop
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let once = Mutex<CheckedContinuation<T, any Error>?>(c)
            let finish: @Sendable (Result<T, any Error>) -> Void = { r in once.withLock { c in c?.resume(with: r); c = nil } }
            loop.execute {
                loop.schedule(after: .milliseconds(Int64(timeout * 1000))) {
                    finish(.failure(PyPeer.Failure(description: "timed out after \(timeout) s on the loop")))
                }
                body(loop, finish)
            }
        }
    }

    /// Keeps `object` alive until the loop stops (call on the loop).
    static func keep(_ object: AnyObject, on loop: EventLoop) {
        loop.schedule(after: .seconds(86_400)) { withExtendedLifetime(object) {} }
    }
}

/// A value confined to a loop thread, passed through Sendable closures.
final class LoopConfined<T>: @unchecked Sendable {  // only touched on the loop that made it
    var value: T
    init(_ value: T) { self.value = value }
}

/// Polls `condition` until it holds or `timeout` seconds pass.
func relayEventually(timeout: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw PyPeer.Failure(description: "timed out after \(timeout) s waiting for \(what)")
}
