import Foundation
import Testing
import AirlockPolicy
@testable import AirlockCLI

@Suite struct PolicyShowCommandTests {
    @Test func tablesListEverySection() throws {
        let dir = try TempDir()
        try dir.write("policy.json", smallPolicy)
        let r = try airlock(["policy", "show", "--policy", "policy.json"], in: dir)
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty)
        let lines = r.stdoutLines
        #expect(lines.first == "policy policy.json (version 1): 2 agents, 2 services, 1 exit, 1 peer, 4 rules")
        for title in ["agents", "services", "exits", "peers", "rules"] { #expect(lines.contains(title)) }
        // Columns line up under the header; sorted by name; notes in their own column.
        let agentHeader = try #require(lines.first { $0.hasPrefix("  NAME") && $0.contains("UID") })
        #expect(agentHeader.wholeMatch(of: /\ \ NAME +UID +IDENTITY +LIMITS +NOTE/) != nil)
        let coder = try #require(lines.firstIndex { $0.hasPrefix("  coder ") })
        let reviewer = try #require(lines.firstIndex { $0.hasPrefix("  reviewer ") })
        #expect(coder < reviewer)
        #expect(lines[coder].wholeMatch(of: /\ \ coder +1000 +per-run +max_circuits=8/) != nil)
        #expect(lines[reviewer].contains(IDs.reviewer) && lines[reviewer].hasSuffix("long-lived"))
        let uidColumn = try #require(agentHeader.range(of: "UID")).lowerBound.utf16Offset(in: agentHeader)
        #expect(try #require(lines[coder].range(of: "1000")).lowerBound.utf16Offset(in: lines[coder]) == uidColumn)
        #expect(lines.contains { $0.wholeMatch(of: /\ \ coder +web +api\.github\.com:443 10\.0\.0\.0\/8:80 +-/) != nil })
        #expect(lines.contains { $0.wholeMatch(of: /\ \ coder +ollama +- +circuit_seconds=60/) != nil })
        #expect(lines.contains { $0.wholeMatch(of: /\ \ web +relay/) != nil })
        #expect(!r.stdout.contains(" \n"), "no trailing blanks")
    }

    @Test func emptySectionsSayNone() throws {
        let dir = try TempDir()
        try dir.write("empty.json", "{\"version\": 1}")
        let r = try airlock(["policy", "show", "--policy", "empty.json"], in: dir)
        #expect(r.status == 0)
        #expect(r.stdout.components(separatedBy: "\n  none\n").count == 6)
    }

    @Test func jsonIsTheCanonicalForm() throws {
        let dir = try TempDir()
        let path = try dir.write("policy.json", smallPolicy)
        let r = try airlock(["policy", "show", "--policy", path, "--json"], in: dir)
        #expect(r.status == 0)
        #expect(r.stdout == (try Policy.load(path: path)).canonicalJSON())
        #expect(try Policy.parse(text: r.stdout) == Policy.load(path: path))
    }

    @Test func readsTheEnvironmentsPolicy() throws {
        let dir = try TempDir()
        try dir.write("env.json", smallPolicy)
        let r = try airlock(["policy", "show"], in: dir, environment: ["AIRLOCK_POLICY": "env.json"])
        #expect(r.status == 0)
        #expect(r.stdoutLines.first?.hasPrefix("policy env.json ") == true)
    }

    @Test func invalidPolicyPrintsProblemsAndFails() throws {
        let dir = try TempDir()
        try dir.write("bad.json", "{\"version\": 1, \"agents\": {\"a\": {}}}")
        let r = try airlock(["policy", "show", "--policy", "bad.json"], in: dir)
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("bad.json:1:") == true)
        #expect(lines.last == "error: the policy bad.json has 1 problem (above); fix them and run: airlock policy validate bad.json")
    }

    @Test func usageErrors() {
        #expect(CLI.main(["policy", "show", "policy.json"]) == 64)
        #expect(CLI.main(["policy", "show", "--policy"]) == 64)
    }

    @Test func textTablePadsColumns() {
        var t = TextTable(["A", "LONGER"])
        t.add(["wide-cell", "x"])
        t.add(["b", ""])
        #expect(t.render() == "  A          LONGER\n  wide-cell  x\n  b\n")
    }
}
