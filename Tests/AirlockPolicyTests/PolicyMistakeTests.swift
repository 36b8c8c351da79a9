import Foundation
import Testing
import AirlockPolicy

/// One file per kind of mistake an operator makes, each refused with its position, the path of
/// the field and what is expected (docs/policy.md, "Errors"). The messages are the contract.
@Suite struct PolicyMistakeTests {
    static let p = "12D3KooWHFmLe1qnPUWizb7BGJbvd6Tvk5nWfxtX8ZcRb6dqFuEf"
    static let q = "12D3KooWDbziXbf1h1YrET6sKLWVwv1MkCVyZyzy6rb6NAiKZd6g"
    static let exitRule = #"{"version":1,"agents":{"c":{"uid":1}},"exits":{"a":{"peer":"relay"}},"rules":[{"from":"c","to":"a","destinations":["DEST"]}]}"#

    static let cases: [(String, String)] = [
        // Names and references.
        (#"{"version":1,"agents":{"Coder":{"uid":1}}}"#,
         #"v.json:1:24: agents.Coder: invalid name "Coder"; expected 1 to 32 characters of a-z, 0-9 and '-', not starting with '-'"#),
        (#"{"version":1,"agents":{"c":{"uid":1}},"services":{"c":{"peer":"\#(p)"}}}"#,
         "v.json:1:51: services.c: c is already defined at agents.c (line 1); names are unique across agents, services, exits and peers"),
        (#"{"version":1,"rules":[{"from":"x"}]}"#,
         #"v.json:1:23: rules[0]: missing "to"; expected the name of a service or an exit"#),
        (#"{"version":1,"agents":{"c":{"uid":1}},"rules":[{"from":"c","to":"c"}]}"#,
         #"v.json:1:65: rules[0].to: "c" is an agent (agents.c); expected the name of a service or an exit"#),
        (#"{"version":1,"agents":{"c":{"uid":1}},"exits":{"a":{"peer":"relay"}},"rules":[{"from":"a","to":"a","destinations":["x.com:1"]}]}"#,
         #"v.json:1:87: rules[0].from: "a" is an exit (exits.a); expected the name of an agent, a peer or a service"#),
        (#"{"version":1,"agents":{"c":{"uid":1}},"services":{"s":{"peer":"\#(p)"}},"rules":[{"from":"c","to":"s"},{"from":"c","to":"s"}]}"#,
         "v.json:1:151: rules[1]: a second rule from c to s; merge it into rules[0] (line 1)"),
        // Types, ranges and structure.
        (#"{"version":1,"agents":5}"#, "v.json:1:23: agents: expected an object mapping agent names to agents, got 5"),
        (#"{"version":1,"agents":{"c":{"uid":1e3}}}"#, "v.json:1:35: agents.c.uid: expected a non-negative integer uid, got 1e3"),
        (#"{"version":1,"agents":{"c":{"uid":4294967295}}}"#,
         "v.json:1:35: agents.c.uid: 4294967295 is out of range; expected a non-negative integer uid from 0 to 4294967294"),
        (#"{"version":1,"agents":{"c":{"uid":1,"note":5}}}"#, "v.json:1:44: agents.c.note: expected a string of at most 512 bytes, got 5"),
        (#"{"version":1,"agents":{"c":{"uid":1,"uid":2}}}"#, #"v.json:1:37: agents.c.uid: duplicate key; "uid" is already given at 1:29"#),
        (#"{"version":1,"agnets":{}}"#,
         #"v.json:1:14: agnets: unknown field (did you mean "agents"?); expected one of: version, agents, services, exits, peers, rules"#),
        (#"{"version":1,"agents":{"c":{"uid":1,"limits":{"circuit_seconds":0}}}}"#,
         "v.json:1:65: agents.c.limits.circuit_seconds: 0 is out of range; expected a whole number of seconds from 1 to 4294967295"),
        (#"{"version":1,"agents":{"c":{"uid":1}},"services":{"s":{"peer":"\#(p)"}},"rules":[{"from":"c","to":"s","limits":{"kill_after_denials":3}}]}"#,
         "v.json:1:160: rules[0].limits.kill_after_denials: unknown field; expected one of: circuit_seconds, circuit_bytes, max_circuits"),
        // Versions and the document.
        (#"{"version":1.0}"#, "v.json:1:12: version: expected 1, got 1.0"),
        (#"{"agents":{}}"#, #"v.json:1:1: missing "version"; expected "version": 1 as the first field"#),
        (#"{"version":2,"bogus":1}"#, "v.json:1:12: version: version 2 is newer than this airlock reads (1 to 1); upgrade airlock or write version 1"),
        ("[]", "v.json:1:1: expected a JSON object holding the policy, got an array"),
        // Identities.
        (#"{"version":1,"agents":{"c":{"uid":1,"identity":"bogus"}}}"#,
         #"v.json:1:48: agents.c.identity: expected "per-run" or a peer ID (12D3KooW…, Qm… or bafz…), got "bogus" (peer ID "bogus" is neither base58btc nor base32 CIDv1)"#),
        (#"{"version":1,"services":{"s":{"peer":"\#(p)"},"t":{"peer":"\#(p)"}}}"#,
         "v.json:1:106: services.t.peer: peer \(p) is already the identity of services.s.peer (line 1); each identity belongs to one entry"),
        (#"{"version":1,"exits":{"a":{"peer":"relay"},"b":{"peer":"relay"}}}"#,
         #"v.json:1:56: exits.b.peer: exit a is already the relay's built-in exit; only one exit may be "relay""#),
        // Destinations.
        (#"{"version":1,"agents":{"c":{"uid":1}},"exits":{"a":{"peer":"relay"}},"rules":[{"from":"c","to":"a"}]}"#,
         #"v.json:1:79: rules[0]: missing "destinations"; expected the host:port patterns exit a may dial for this rule"#),
        (#"{"version":1,"agents":{"c":{"uid":1}},"services":{"s":{"peer":"\#(p)"}},"rules":[{"from":"c","to":"s","destinations":[]}]}"#,
         "v.json:1:165: rules[0].destinations: destinations apply only to rules to an exit; remove it, service s takes whole connections"),
        (exitRule.replacingOccurrences(of: "DEST", with: "10.0.0.1/8:443"),
         #"v.json:1:116: rules[0].destinations[0]: 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?; got "10.0.0.1/8:443""#),
        (exitRule.replacingOccurrences(of: "DEST", with: "x.com:0"),
         #"v.json:1:116: rules[0].destinations[0]: port "0" is not a number from 1 to 65535; got "x.com:0""#),
        (exitRule.replacingOccurrences(of: "DEST", with: "x.com:90-80"),
         #"v.json:1:116: rules[0].destinations[0]: port range 90-80 is empty; write the lower port first; got "x.com:90-80""#),
        (exitRule.replacingOccurrences(of: "DEST", with: "x.com:1-2-3"),
         #"v.json:1:116: rules[0].destinations[0]: port "1-2-3" is neither a port nor a range LOW-HIGH such as 8000-8080; got "x.com:1-2-3""#),
        (exitRule.replacingOccurrences(of: "DEST", with: "010.0.0.1:1"),
         #"v.json:1:116: rules[0].destinations[0]: "010.0.0.1" is neither an IP address nor a host name (the last label must start with a letter); got "010.0.0.1:1""#),
        (exitRule.replacingOccurrences(of: "DEST", with: "[::ffff:10.0.0.1]:1"),
         #"v.json:1:116: rules[0].destinations[0]: [::ffff:10.0.0.1] is an IPv4-mapped address; write it as 10.0.0.1; got "[::ffff:10.0.0.1]:1""#),
        (exitRule.replacingOccurrences(of: "DEST", with: "*:80"),
         #"v.json:1:116: rules[0].destinations[0]: a bare '*' host is not allowed; name the domain, as in *.example.com; got "*:80""#),
        (exitRule.replacingOccurrences(of: "DEST", with: "a.*.com:1"),
         #"v.json:1:116: rules[0].destinations[0]: '*' may appear only as a whole first label, as in *.example.com; got "a.*.com:1""#),
        (exitRule.replacingOccurrences(of: "\"DEST\"", with: #""x.com:443","x.com:443""#),
         "v.json:1:128: rules[0].destinations[1]: x.com:443 repeats rules[0].destinations[0]"),
    ]

    @Test(arguments: cases) func eachMistakeIsReportedWithPositionPathAndExpectation(_ text: String, _ expected: String) {
        do {
            _ = try Policy.parse(text: text, file: "v.json")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.problems.first?.description == expected)
        }
    }
}
