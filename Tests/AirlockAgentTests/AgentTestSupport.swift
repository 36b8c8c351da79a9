import Foundation
import Testing
import AirlockNet
@testable import AirlockAgent

/// Gate for tests that spawn agents: they need root (to enter namespaces and change uid) and
/// permission to create network namespaces. Without those they are skipped with the reason, except
/// under `CI=true`, where they run and fail on `requirePrivilege`.
enum Privileged {
    static let missing: String? = {
        if geteuid() != 0 { return "needs root (euid \(geteuid()))" }
        if let e = NetworkNamespace.creationProbe() { return "cannot create a network namespace: \(e)" }
        return nil
    }()

    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static var shouldRun: Bool { missing == nil || isCI }

    static func requirePrivilege() throws {
        try #require(missing == nil, "agent tests cannot run: \(missing ?? "")")
    }
}

/// A fresh network namespace under a per-test random name, deleted by `finish` on every path.
struct ScratchNamespace {
    let name: String
    let namespace: NetworkNamespace

    init() throws {
        name = "alag" + String(format: "%06x", UInt32.random(in: 0...0xFF_FFFF))
        namespace = try NetworkNamespace.create(name: name)
    }

    func finish(sourceLocation: SourceLocation = #_sourceLocation) {
        do { try NetworkNamespace.delete(name: name) } catch {
            Issue.record("delete \(name): \(error)", sourceLocation: sourceLocation)
        }
        #expect(!NetworkNamespace.exists(name: name), sourceLocation: sourceLocation)
    }
}

/// `nobody:nogroup`, present on every Debian system.
let nobody = try! AgentUser(uid: 65534, gid: 65534, name: "nobody")
let testEnvironment = ["PATH": "/usr/bin:/bin", "LANG": "C"]

/// A spec for `command` as nobody in `ns`, from `/`.
func spec(_ command: [String], in ns: NetworkNamespace) throws -> ProcessSpec {
    var s = try ProcessSpec(command: command, environment: testEnvironment, workingDirectory: "/",
                            user: nobody, network: ns)
    s.stdin = -1
    return s
}

/// A close-on-exec pipe: (read end, write end).
func makePipe() throws -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    try #require(pipe(&fds) == 0)
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
}

/// Reads `fd` to EOF (or until `until` shows up in what was read) and returns the text.
func readText(_ fd: Int32, until marker: String? = nil) -> String {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes += chunk[0..<n]
        if let marker, String(decoding: bytes, as: UTF8.self).contains(marker) { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Spawns `spec` with stdout and stderr on a pipe, reads everything, waits.
func runCapturing(_ spec: ProcessSpec) throws -> (output: String, status: AgentProcess.ExitStatus) {
    var spec = spec
    let (r, w) = try makePipe()
    defer { close(r) }
    spec.stdout = w; spec.stderr = w
    let process: AgentProcess
    do { process = try AgentProcess.spawn(spec) } catch { close(w); throw error }
    close(w)
    let output = readText(r)
    return (output, process.wait())
}

/// Host pids of every process in the PID namespace `nsLink` (e.g. `pid:[4026532…]`).
func members(ofPIDNamespace nsLink: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/ns/pid")) == nsLink
    }
}

/// Polls `condition` every 10 ms for at most `milliseconds`.
func eventually(_ milliseconds: Int = 3000, _ condition: () -> Bool) -> Bool {
    for _ in 0..<(milliseconds / 10) {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
