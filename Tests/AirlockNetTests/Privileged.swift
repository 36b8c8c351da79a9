import Foundation
import Testing
@testable import AirlockNet

/// Gate and helpers for tests that create namespaces and links.
///
/// They need root and permission to unshare a network namespace. Without those the tests are
/// skipped with the reason, except under `CI=true`, where they run and fail on `requirePrivilege`.
/// Every object a test creates carries a per-test random prefix (`alt` + 6 hex digits) and lives
/// only in namespaces the test created; `Scratch.finish` sweeps them even when the test failed.
enum Privileged {
    /// Nil when namespace tests can run here, else why not.
    static let missing: String? = {
        if geteuid() != 0 { return "needs root (euid \(geteuid()))" }
        if let e = NetworkNamespace.creationProbe() { return "cannot create a network namespace: \(e)" }
        return nil
    }()

    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Suite trait condition: run when privileged, and always under CI (where a skip is a failure).
    static var shouldRun: Bool { missing == nil || isCI }

    static func requirePrivilege() throws {
        try #require(missing == nil, "namespace tests cannot run: \(missing ?? "")")
    }
}

/// A per-test name prefix and the cleanup that removes everything carrying it.
struct Scratch {
    let prefix: String

    init() {
        prefix = "alt" + String(format: "%06x", UInt32.random(in: 0...0xFF_FFFF))
    }

    /// Deletes every namespace with this prefix and checks that none is left in `ip netns list`
    /// and that no link with the prefix ever appeared in the test's own (root) namespace.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) {
        do { try NetworkNamespace.sweep(prefix: prefix) } catch {
            Issue.record("sweep \(prefix): \(error)", sourceLocation: sourceLocation)
        }
        let netns = (try? Shell.run("ip", "netns", "list")) ?? "?"
        #expect(!netns.contains(prefix), "left in ip netns list: \(netns)", sourceLocation: sourceLocation)
        let links = (try? Shell.run("ip", "-o", "link")) ?? "?"
        #expect(!links.contains(prefix), "link in the root namespace: \(links)", sourceLocation: sourceLocation)
    }
}

/// Runs observation tools (`ip`) in tests only; product code never shells out.
enum Shell {
    struct Failed: Error, CustomStringConvertible {
        let command: [String]; let status: Int32; let output: String
        var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
    }

    /// Runs the command (found through PATH), returns stdout+stderr; throws on a non-zero exit.
    @discardableResult
    static func run(_ args: String...) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw Failed(command: args, status: p.terminationStatus, output: out) }
        return out
    }
}
