#if canImport(Glibc)
import Glibc
#endif
import Testing
import AirlockCore
@testable import AirlockPolicy

@Suite struct PolicyTests {
    @Test func loadsTheExampleAndItIsCanonical() throws {
        let path = examplePolicyPath()
        let policy = try Policy.load(path: path)
        #expect(policy.version == 1)
        #expect(policy.agents.map(\.name) == ["coder", "reviewer"])
        #expect(policy.services.map(\.name) == ["git-mirror", "ollama"])
        #expect(policy.exits.map(\.name) == ["lab", "web"])
        #expect(policy.peers.map(\.name) == ["ci-runner"])
        #expect(policy.rules.count == 6)
        #expect(policy.agent(named: "coder")?.identity == .perRun)
        #expect(policy.agent(named: "coder")?.limits == Policy.Limits(maxCircuits: 64, killAfterDenials: 20))
        #expect(policy.agent(named: "reviewer")?.uid == 1001)
        #expect(policy.relayExit?.name == "web")
        // The shipped example is written in canonical form, so an edit round trip leaves it as it is.
        #expect(policy.canonicalJSON() == readText(path))
    }

    /// A small text file's contents (up to 64 KiB), or nil.
    func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1 << 16)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return n < 0 ? nil : String(decoding: bytes[0..<n], as: UTF8.self)
    }

    @Test func theDocumentedExampleLoads() throws {
        // docs/policy.md opens with an example; keep it valid.
        let text = try #require(readText(packageRoot() + "/docs/policy.md"))
        let blocks = text.split(separator: "```", omittingEmptySubsequences: false)
        let json = try #require(blocks.first { $0.hasPrefix("json\n") })
        let policy = try Policy.parse(text: String(json.dropFirst(5)), file: "docs/policy.md")
        #expect(policy.rules.count == 3)
    }

    @Test func roundTripsThroughCanonicalJSON() throws {
        let text = """
        {"rules": [{"note": "z", "limits": {"max_circuits": 2, "circuit_bytes": 5}, "to": "web", "from": "b",
                    "destinations": ["Example.COM.:443", "[2001:DB8:0::/32]:1-65535", "10.0.0.0/8:22"]}],
         "peers": {"b": {"peer": "\(IDs.ciRunner.cidString)", "note": "tab\\there \\"quoted\\" é"}},
         "exits": {"web": {"peer": "relay"}},
         "agents": {"z": {"uid": 0, "identity": "\(IDs.reviewer)"}, "a": {"uid": 7}},
         "version": 1}
        """
        let first = try Policy.parse(text: text)
        let canonical = first.canonicalJSON()
        let second = try Policy.parse(text: canonical, file: "canonical.json")
        #expect(second == first)
        #expect(second.canonicalJSON() == canonical, "canonical form is a fixed point")
        #expect(canonical == """
        {
          "version": 1,
          "agents": {
            "a": {
              "uid": 7,
              "identity": "per-run"
            },
            "z": {
              "uid": 0,
              "identity": "\(IDs.reviewer)"
            }
          },
          "services": {},
          "exits": {
            "web": {
              "peer": "relay"
            }
          },
          "peers": {
            "b": {
              "peer": "\(IDs.ciRunner)",
              "note": "tab\\there \\"quoted\\" é"
            }
          },
          "rules": [
            {
              "from": "b",
              "to": "web",
              "destinations": [
                "example.com:443",
                "[2001:db8::/32]:1-65535",
                "10.0.0.0/8:22"
              ],
              "limits": {
                "circuit_bytes": 5,
                "max_circuits": 2
              },
              "note": "z"
            }
          ]
        }

        """)
    }

    @Test func validatedChecksEdits() throws {
        let base = try Policy.load(path: examplePolicyPath())
        // An edit that adds a destination to a rule.
        var rules = base.rules
        rules[2].destinations.append(try Destination.parse("*.crates.io:443").get())
        let edited = try Policy.validated(agents: base.agents, services: base.services, exits: base.exits, peers: base.peers, rules: rules)
        #expect(edited.rule(from: "coder", to: "web")?.destinations.last?.description == "*.crates.io:443")
        // An edit that breaks a reference is refused with a positioned problem.
        rules.append(Policy.Rule(from: "coder", to: "nowhere"))
        #expect(throws: PolicyError.self) {
            try Policy.validated(agents: base.agents, services: base.services, exits: base.exits, peers: base.peers, rules: rules)
        }
        do {
            _ = try Policy.validated(agents: base.agents, services: base.services, peers: base.peers, rules: rules)
        } catch {
            #expect(error.problems.allSatisfy { $0.file == "<edited policy>" && $0.position != nil })
            #expect(error.problems.contains { $0.path == "rules[6].to" })
        }
    }

    @Test func loadReportsUnreadableFiles() {
        do {
            _ = try Policy.load(path: "/nonexistent/airlock/policy.json")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.description == "/nonexistent/airlock/policy.json: cannot open: No such file or directory")
        }
    }

    @Test func lookupsByNameAndPeer() throws {
        let p = try Policy.load(path: examplePolicyPath())
        #expect(p.service(for: IDs.ollama)?.name == "ollama")
        #expect(p.service(named: "ollama")?.peer == IDs.ollama)
        #expect(p.service(for: IDs.reviewer) == nil)
        #expect(p.agent(for: IDs.reviewer)?.name == "reviewer")
        #expect(p.exit(for: IDs.lab)?.name == "lab")
        #expect(p.exit(named: "web")?.location == .relay)
        #expect(p.peer(named: "ci-runner")?.peer == IDs.ciRunner)
        #expect(p.entry(named: "ci-runner")?.kind == "peer")
        #expect(p.entry(for: IDs.stranger) == nil)
        #expect(p.exitRules(for: "coder").map(\.to) == ["web"])
        #expect(p.exitRules(for: "reviewer").map(\.to) == ["lab"])
        #expect(p.exitRules(for: "ci-runner").isEmpty)
        #expect(p.rules(from: "coder").map(\.to) == ["ollama", "git-mirror", "web"])
        #expect(p.rule(from: "coder", to: "git-mirror")?.limits.circuitSeconds == 3600)
    }

    @Test func problemFormatting() {
        let withPath = PolicyProblem(file: "f.json", position: SourcePosition(line: 3, column: 9), path: "agents.a.uid", message: "bad")
        let noPath = PolicyProblem(file: "f.json", position: SourcePosition(line: 1, column: 1), path: "", message: "bad")
        let noPosition = PolicyProblem(file: "f.json", position: nil, path: "", message: "cannot open")
        #expect(withPath.description == "f.json:3:9: agents.a.uid: bad")
        #expect(noPath.description == "f.json:1:1: bad")
        #expect(noPosition.description == "f.json: cannot open")
        #expect(PolicyError(problems: [withPath, noPosition]).description == "f.json:3:9: agents.a.uid: bad\nf.json: cannot open")
    }
}
