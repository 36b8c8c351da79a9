import Testing
@testable import AirlockPolicy

/// Every kind of mistake in a policy file yields its message, at the right line:column and path.
@Suite struct PolicyDecoderTests {
    let svc = IDs.ollama.description
    let other = IDs.gitMirror.description

    @Test func badUidPointsAtTheValue() {
        let text = """
        {
          "version": 1,
          "agents": {
            "coder": { "uid": "bob" }
          }
        }
        """
        #expect(problems(text) == ["p.json:4:23: agents.coder.uid: expected a non-negative integer uid, got \"bob\""])
    }

    @Test func reportsEveryProblemInFileOrder() {
        let text = """
        {
          "version": 1,
          "agents": {
            "coder": { "uidd": 1000, "identity": "per-rn" },
            "Bad_Name": { "uid": 1 }
          },
          "services": { "ollama": { "peer": "\(svc)", "peer": "\(svc)" } },
          "exits": { "web": { "peer": "relay" } },
          "rules": [
            { "from": "codr", "to": "ollama" },
            { "from": "coder", "to": "web", "destinations": ["example.com"] }
          ],
          "extra": true
        }
        """
        let expected = [
            "p.json:4:14: agents.coder: missing \"uid\"; expected the uid of the Unix user who may run this agent",
            "p.json:4:16: agents.coder.uidd: unknown field (did you mean \"uid\"?); expected one of: uid, identity, limits, note",
            "p.json:4:42: agents.coder.identity: expected \"per-run\" or a peer ID (12D3KooW…, Qm… or bafz…), got \"per-rn\" (peer ID \"per-rn\" is neither base58btc nor base32 CIDv1)",
            "p.json:5:5: agents.Bad_Name: invalid name \"Bad_Name\"; expected 1 to 32 characters of a-z, 0-9 and '-', not starting with '-'",
            "p.json:7:\(position(of: "\"peer\"", in: text, occurrence: 2).split(separator: ":")[1]): services.ollama.peer: duplicate key; \"peer\" is already given at \(position(of: "\"peer\"", in: text))",
            "p.json:\(position(of: "\"codr\"", in: text)): rules[0].from: nothing is named \"codr\"; expected the name of an agent, a peer or a service (did you mean \"coder\"?)",
            "p.json:\(position(of: "\"example.com\"", in: text)): rules[1].destinations[0]: missing port; every destination names its port, as in example.com:443; got \"example.com\"",
            "p.json:\(position(of: "\"extra\"", in: text)): extra: unknown field; expected one of: version, agents, services, exits, peers, rules",
        ]
        #expect(problems(text) == expected)
    }

    @Test func versionIsRequiredAndBounded() {
        #expect(problems("{}") == ["p.json:1:1: missing \"version\"; expected \"version\": 1 as the first field"])
        #expect(problems(#"{"version": "1"}"#) == ["p.json:1:13: version: expected 1, got \"1\""])
        #expect(problems(#"{"version": 1.0}"#) == ["p.json:1:13: version: expected 1, got 1.0"])
        #expect(problems(#"{"version": 0}"#) == ["p.json:1:13: version: expected 1, got 0"])
        // A newer file is refused as a whole: its unknown fields would only be noise.
        #expect(problems(#"{"version": 2, "routes": [], "agents": 5}"#)
                == ["p.json:1:13: version: version 2 is newer than this airlock reads (1 to 1); upgrade airlock or write version 1"])
    }

    @Test func topLevelAndSectionsHaveTheirTypes() {
        #expect(problems("[]") == ["p.json:1:1: expected a JSON object holding the policy, got an array"])
        let text = #"{"version": 1, "agents": [], "services": "x", "exits": null, "peers": 3, "rules": {}}"#
        #expect(problems(text) == [
            "p.json:1:26: agents: expected an object mapping agent names to agents, got an array",
            "p.json:1:42: services: expected an object mapping service names to services, got \"x\"",
            "p.json:1:56: exits: expected an object mapping exit names to exits, got null",
            "p.json:1:71: peers: expected an object mapping peer names to peers, got 3",
            "p.json:1:83: rules: expected an array of rules, got an object",
        ])
        #expect(problems(#"{"version": 1, "agents": {"a": 7}}"#) == ["p.json:1:32: agents.a: expected an object describing the agent, got 7"])
    }

    @Test func uidRange() {
        func uid(_ v: String) -> [String] { problems(#"{"version": 1, "agents": {"a": {"uid": \#(v)}}}"#) }
        #expect(uid("0") == [])
        #expect(uid("4294967294") == [])
        #expect(uid("4294967295") == ["p.json:1:40: agents.a.uid: 4294967295 is out of range; expected a non-negative integer uid from 0 to 4294967294"])
        #expect(uid("-1") == ["p.json:1:40: agents.a.uid: expected a non-negative integer uid, got -1"])
        #expect(uid("1e3") == ["p.json:1:40: agents.a.uid: expected a non-negative integer uid, got 1e3"])
        #expect(uid("99999999999999999999999") .first?.contains("out of range") == true)
    }

    @Test func namesAreUniqueAcrossSections() {
        let text = """
        {"version": 1,
         "agents": {"box": {"uid": 1}},
         "services": {"box": {"peer": "\(svc)"}},
         "peers": {"box": {"peer": "\(other)"}}}
        """
        #expect(problems(text) == [
            "p.json:3:15: services.box: box is already defined at agents.box (line 2); names are unique across agents, services, exits and peers",
            "p.json:4:12: peers.box: box is already defined at agents.box (line 2); names are unique across agents, services, exits and peers",
        ])
        #expect(problems(#"{"version": 1, "agents": {"a": {"uid": 1}, "a": {"uid": 2}}}"#)
                == ["p.json:1:44: agents.a: a is already defined at agents.a (line 1)"])
    }

    @Test(arguments: ["", "-a", "A", "a_b", "a.b", String(repeating: "a", count: 33), "ä"])
    func invalidNames(name: String) {
        let out = problems(#"{"version": 1, "services": {"\#(name)": {"peer": "\#(IDs.ollama)"}}}"#)
        #expect(out.count == 1 && out[0].hasPrefix("p.json:1:29: services.\(name): invalid name"), "\(out)")
    }

    @Test func validNames() {
        #expect(Policy.isValidName("a") && Policy.isValidName("0-x") && Policy.isValidName(String(repeating: "z", count: 32)))
        #expect(!Policy.isValidName("x-".uppercased()))
    }

    @Test func identitiesAreValidAndUnique() {
        let text = """
        {"version": 1,
         "agents": {"a": {"uid": 1, "identity": "\(svc)"}},
         "services": {"s": {"peer": "\(svc)"}, "t": {"peer": "Qmnot-a-peer"}, "u": {"peer": 12}},
         "exits": {"x": {"peer": "relay"}, "y": {"peer": "relay"}, "z": {}}}
        """
        #expect(problems(text) == [
            "p.json:3:29: services.s.peer: peer \(svc) is already the identity of agents.a.identity (line 2); each identity belongs to one entry",
            "p.json:\(position(of: "\"Qmnot", in: text)): services.t.peer: expected a peer ID (12D3KooW…, Qm… or bafz…), got \"Qmnot-a-peer\" (peer ID \"Qmnot-a-peer\" is not base58btc)",
            "p.json:\(position(of: "12}", in: text)): services.u.peer: expected a peer ID (12D3KooW…, Qm… or bafz…), got 12",
            "p.json:\(position(of: "\"relay\"", in: text, occurrence: 2)): exits.y.peer: exit x is already the relay's built-in exit; only one exit may be \"relay\"",
            "p.json:\(position(of: "{}", in: text)): exits.z: missing \"peer\"; expected \"relay\" or the exit's peer ID",
        ])
        // The CIDv1 text form is accepted and means the same peer.
        #expect(problems(#"{"version": 1, "peers": {"p": {"peer": "\#(IDs.ciRunner.cidString)"}}}"#) == [])
    }

    @Test func ruleReferencesAreChecked() {
        let text = """
        {"version": 1,
         "agents": {"coder": {"uid": 1}},
         "services": {"db": {"peer": "\(svc)"}},
         "exits": {"web": {"peer": "relay"}},
         "peers": {"ext": {"peer": "\(other)"}},
         "rules": [
          {"from": "web", "to": "db"},
          {"from": "coder", "to": "ext"},
          {"from": "coder", "to": "coder"},
          {"from": "db", "to": "db"},
          {"from": 5},
          {"from": "coder", "to": "web"},
          {"from": "coder", "to": "db", "destinations": ["a.com:1"]},
          {"from": "ext", "to": "web", "destinations": []},
          {"from": "ext", "to": "web", "destinations": ["a.com:1", "A.com.:1", 7, "[::1]:1-2"]},
          {"from": "ext", "to": "db"},
          {"from": "ext", "to": "db", "note": "again"},
          "nope"
         ]}
        """
        #expect(problems(text) == [
            "p.json:7:12: rules[0].from: \"web\" is an exit (exits.web); expected the name of an agent, a peer or a service",
            "p.json:8:27: rules[1].to: \"ext\" is a peer (peers.ext); expected the name of a service or an exit",
            "p.json:9:27: rules[2].to: \"coder\" is an agent (agents.coder); expected the name of a service or an exit",
            "p.json:10:24: rules[3].to: a rule from db to itself; expected the name of another service or an exit",
            "p.json:11:3: rules[4]: missing \"to\"; expected the name of a service or an exit",
            "p.json:11:12: rules[4].from: expected the name of an agent, a peer or a service, got 5",
            "p.json:12:3: rules[5]: missing \"destinations\"; expected the host:port patterns exit web may dial for this rule",
            "p.json:13:49: rules[6].destinations: destinations apply only to rules to an exit; remove it, service db takes whole connections",
            "p.json:\(position(of: "[]}", in: text)): rules[7].destinations: expected a non-empty array of \"host:port\" strings, got an array",
            "p.json:\(position(of: "\"A.com.:1\"", in: text)): rules[8].destinations[1]: a.com:1 repeats rules[8].destinations[0]",
            "p.json:\(position(of: "7, ", in: text)): rules[8].destinations[2]: expected a \"host:port\" string, got 7",
            "p.json:17:3: rules[10]: a second rule from ext to db; merge it into rules[9] (line 16)",
            "p.json:18:3: rules[11]: expected an object describing the rule, got \"nope\"",
        ])
    }

    @Test func brokenEntriesAreNotReportedAgainByRules() {
        let text = """
        {"version": 1,
         "agents": {"coder": {"uid": "alice"}},
         "exits": {"web": {"peer": "nope"}},
         "rules": [{"from": "coder", "to": "web", "destinations": ["a.com:443"]},
                   {"from": "coder", "to": "web", "destinations": ["a.com"]}]}
        """
        // The rules name entries that exist but are broken: only the entries' own problems and the
        // bad destination are reported, not "nothing is named coder".
        let out = problems(text)
        #expect(out.count == 3, "\(out)")
        #expect(out[0].hasPrefix("p.json:2:30: agents.coder.uid:"))
        #expect(out[1].hasPrefix("p.json:3:28: exits.web.peer:"))
        #expect(out[2].hasPrefix("p.json:5:60: rules[1].destinations[0]: missing port"))
    }

    @Test func limitsAreChecked() {
        let text = """
        {"version": 1,
         "agents": {"a": {"uid": 1, "limits": {"circuit_seconds": 0, "circuit_bytes": 18446744073709551615,
                                              "max_circuits": 2.5, "kill_after_denials": -3, "max_bytes": 1}}},
         "services": {"s": {"peer": "\(svc)"}},
         "rules": [{"from": "a", "to": "s", "limits": {"kill_after_denials": 3, "circuit_seconds": 4294967296}},
                   {"from": "a", "to": "s", "limits": []}]}
        """
        #expect(problems(text) == [
            "p.json:\(position(of: "0, ", in: text)): agents.a.limits.circuit_seconds: 0 is out of range; expected a whole number of seconds from 1 to 4294967295",
            "p.json:\(position(of: "2.5", in: text)): agents.a.limits.max_circuits: expected a whole number of circuits, got 2.5",
            "p.json:\(position(of: "-3", in: text)): agents.a.limits.kill_after_denials: expected a whole number of denials, got -3",
            "p.json:\(position(of: "\"max_bytes\"", in: text)): agents.a.limits.max_bytes: unknown field; expected one of: circuit_seconds, circuit_bytes, max_circuits, kill_after_denials",
            "p.json:\(position(of: "\"kill_after_denials\": 3", in: text)): rules[0].limits.kill_after_denials: unknown field; expected one of: circuit_seconds, circuit_bytes, max_circuits",
            "p.json:\(position(of: "4294967296", in: text)): rules[0].limits.circuit_seconds: 4294967296 is out of range; expected a whole number of seconds from 1 to 4294967295",
            "p.json:\(position(of: "[]}", in: text)): rules[1].limits: expected an object of limits, got an array",
        ])
    }

    @Test func notesAreShortStrings() {
        let long = String(repeating: "x", count: Policy.maxNoteLength + 1)
        let text = #"{"version": 1, "peers": {"p": {"peer": "\#(svc)", "note": "\#(long)"}}, "rules": [{"from": "p", "to": "p", "note": 1}]}"#
        let out = problems(text)
        #expect(out.count == 3, "\(out)")
        #expect(out[0].contains("peers.p.note: expected a string of at most 512 bytes, got \"xxxx"))
        #expect(out[2].contains("rules[0].note: expected a string of at most 512 bytes, got 1"))
        #expect(problems(#"{"version": 1, "peers": {"p": {"peer": "\#(svc)", "note": "\#(String(repeating: "é", count: 256))"}}}"#) == [])
    }

    @Test func syntaxErrorsCarryFileAndPath() {
        #expect(problems("{\"version\": 1,\n \"agents\": {\"a\": {\"uid\": 1,}}}", file: "/etc/airlock/policy.json")
                == ["/etc/airlock/policy.json:2:28: agents.a: a trailing comma before '}' is not allowed"])
    }

    @Test func sizeIsCapped() {
        let big = "{\"version\": 1, \"peers\": {}}" + String(repeating: " ", count: Policy.maxFileSize)
        #expect(problems(big) == ["p.json: file is \(big.utf8.count) bytes; a policy may be at most \(Policy.maxFileSize) bytes"])
    }

    @Test func problemCountIsCapped() {
        let entries = (0..<150).map { #""a\#($0)": {"uid": "x"}"# }.joined(separator: ", ")
        let out = problems(#"{"version": 1, "agents": {\#(entries)}}"#)
        #expect(out.count == PolicyError.maxProblems + 1)
        #expect(out.last == "p.json: 50 more problems not shown")
    }
}
