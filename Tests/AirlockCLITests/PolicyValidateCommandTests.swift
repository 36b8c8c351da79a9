import Foundation
import Testing
@testable import AirlockCLI

@Suite struct PolicyValidateCommandTests {
    @Test func validPolicyPrintsCounts() throws {
        let dir = try TempDir()
        try dir.write("policy.json", smallPolicy)
        let r = try airlock(["policy", "validate", "policy.json"], in: dir)
        #expect(r.status == 0)
        #expect(r.stdout == "policy.json: ok (2 agents, 2 services, 1 exit, 1 peer, 4 rules)\n")
        #expect(r.stderr.isEmpty)
        #expect(CLI.main(["policy", "validate", dir.file("policy.json")]) == 0)
        #expect(CLI.main(["policy", "validate", "--policy", dir.file("policy.json")]) == 0)
    }

    @Test func shippedExampleIsValid() throws {
        let dir = try TempDir()
        let example = packageRoot() + "/Relay/policy.example.json"
        let r = try airlock(["policy", "validate", example], in: dir)
        #expect(r.status == 0)
        #expect(r.stdout == "\(example): ok (2 agents, 2 services, 2 exits, 1 peer, 6 rules)\n")
    }

    @Test func everyProblemIsListedWithItsPosition() throws {
        let dir = try TempDir()
        try dir.write("bad.json", """
            {
              "version": 1,
              "agents": { "coder": { "uid": "bob" } },
              "rules": [ { "from": "codr", "to": "ollama" } ]
            }
            """)
        let r = try airlock(["policy", "validate", "bad.json"], in: dir)
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == "bad.json:3:33: agents.coder.uid: expected a non-negative integer uid, got \"bob\"")
        for line in lines { #expect(line.wholeMatch(of: /bad\.json:\d+:\d+: .+/) != nil, "\(line)") }
        #expect(lines.contains { $0.hasPrefix("bad.json:4:") && $0.contains("rules[0].from") })
    }

    @Test func syntaxErrorIsOneLine() throws {
        let dir = try TempDir()
        try dir.write("syntax.json", "{\n  \"version\": 1,\n}\n")
        let r = try airlock(["policy", "validate", "syntax.json"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.hasPrefix("syntax.json:3:1: "))
    }

    @Test func missingFileFails() throws {
        let dir = try TempDir()
        let r = try airlock(["policy", "validate", "absent.json"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("absent.json: cannot open: "))
    }

    @Test func environmentNamesTheDefaultFile() throws {
        let dir = try TempDir()
        try dir.write("env.json", smallPolicy)
        try dir.write("bad.json", "{}")
        let viaEnv = try airlock(["policy", "validate"], in: dir, environment: ["AIRLOCK_POLICY": dir.file("env.json")])
        #expect(viaEnv.status == 0)
        #expect(viaEnv.stdout.hasPrefix(dir.file("env.json") + ": ok ("))
        // A file on the command line wins over the environment.
        let explicit = try airlock(["policy", "validate", "bad.json"], in: dir, environment: ["AIRLOCK_POLICY": dir.file("env.json")])
        #expect(explicit.status == 1)
        #expect(explicit.stderr.hasPrefix("bad.json:"))
    }

    @Test func defaultPathIsEtc() throws {
        #expect(PolicyCommand.defaultPath == "/etc/airlock/policy.json")
        // Only meaningful where the machine has no policy installed.
        guard !FileManager.default.fileExists(atPath: PolicyCommand.defaultPath) else { return }
        let dir = try TempDir()
        let r = try airlock(["policy", "validate"], in: dir, environment: ["AIRLOCK_POLICY": ""])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("/etc/airlock/policy.json: cannot open: "))
        #expect(r.stderr.contains("airlock policy validate FILE"))
    }

    @Test func usageErrors() {
        #expect(CLI.main(["policy", "validate", "a.json", "b.json"]) == 64)
        #expect(CLI.main(["policy", "validate", "a.json", "--policy", "b.json"]) == 64)
        #expect(CLI.main(["policy", "validate", "--json"]) == 64)
    }
}
