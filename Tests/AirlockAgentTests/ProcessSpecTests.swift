import Foundation
import Testing
@testable import AirlockAgent

/// PATH lookup and validation: no privilege needed.
struct ProcessSpecTests {
    @Test func looksUpThroughAbsolutePathEntries() throws {
        #expect(try ProcessSpec.lookup("sh", searchPath: "/usr/bin:/bin") == "/usr/bin/sh")
        #expect(try ProcessSpec.lookup("sh", searchPath: "/nonexistent:/bin/") == "/bin/sh")
        // Names with a slash are taken as given, even when missing.
        #expect(try ProcessSpec.lookup("/usr/bin/nope", searchPath: "") == "/usr/bin/nope")
        #expect(try ProcessSpec.lookup("./tool", searchPath: "/usr/bin") == "./tool")
    }

    @Test func skipsRelativeEmptyAndNonExecutableEntries() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("alps\(UInt32.random(in: 0...0xFFFFFF))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("tool").path
        _ = FileManager.default.createFile(atPath: plain, contents: Data(), attributes: [.posixPermissions: 0o644])
        let sub = dir.appendingPathComponent("sub")
        try FileManager.default.createDirectory(at: sub.appendingPathComponent("tool"), withIntermediateDirectories: true)
        // Not executable, a directory, relative and empty entries: none of them count.
        let path = "\(dir.path)::.:relative:\(sub.path)"
        #expect(throws: SpawnError.commandNotFound("tool", searched: path)) {
            try ProcessSpec.lookup("tool", searchPath: path)
        }
        chmod(plain, 0o755)
        #expect(try ProcessSpec.lookup("tool", searchPath: path) == plain)
    }

    @Test func refusesWhatExecveCannotCarry() throws {
        #expect(throws: SpawnError.self) { try ProcessSpec.lookup("", searchPath: "/bin") }
        #expect(throws: SpawnError.self) { try ProcessSpec.lookup("s\0h", searchPath: "/bin") }
        let ns = try AirlockNetNamespaceStandIn.any()
        var spec = try ProcessSpec(command: ["sh"], environment: [:], user: nobody, network: ns)
        #expect(spec.executable == "/usr/local/bin/sh" || spec.executable == "/usr/bin/sh" || spec.executable == "/bin/sh")
        try spec.validate()
        for bad in [["A=B": "x"], ["": "x"], ["A": "x\0y"], ["A\0": "x"]] {
            var s = spec; s.environment = bad
            #expect(throws: SpawnError.self, "\(bad)") { try s.validate() }
        }
        spec.arguments = ["sh", "-c", "a\0b"]
        #expect(throws: SpawnError.invalidArgument("argument 2 contains a NUL byte")) { try spec.validate() }
        spec.arguments = []
        #expect(throws: SpawnError.self) { try spec.validate() }
        #expect(throws: SpawnError.invalidArgument("empty command")) {
            try ProcessSpec(command: [], environment: [:], user: nobody, network: ns)
        }
    }

    @Test func environmentStringsAreSortedByName() throws {
        var spec = try ProcessSpec(command: ["sh"], environment: [:], user: nobody,
                                   network: AirlockNetNamespaceStandIn.any())
        spec.environment = ["PATH": "/bin", "A": "1", "Z": "x=y"]
        #expect(spec.environmentStrings == ["A=1", "PATH=/bin", "Z=x=y"])
    }
}

import AirlockNet
/// Any open namespace object, for specs that are only validated, never spawned.
enum AirlockNetNamespaceStandIn {
    static func any() throws -> NetworkNamespace { try NetworkNamespace.ofProcess() }
}
