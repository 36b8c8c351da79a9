#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockCore
import AirlockCrypto
import AirlockPolicy
@testable import AirlockCLI

/// `airlock allow` and `airlock deny`: edits land in canonical form, refuse what would not
/// validate, keep the file's mode and owner, and concurrent edits never lose one.
@Suite struct PolicyEditCommandTests {
    /// A socket path no relay serves, so every edit takes the "no relay answers" path.
    static let noRelay = ["--control", "/nonexistent/airlock-test/control.sock"]

    @Test func allowAndDenyRoundTrip() throws {
        let dir = try TempDir()
        try dir.write("policy.json", smallPolicy, mode: 0o640)
        let before = try Policy.load(path: dir.file("policy.json"))

        let add = try airlock(["allow", "coder", "git-mirror", "--policy", "policy.json"] + Self.noRelay, in: dir)
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stdout == "allowed coder → git-mirror (policy.json)\n")
        #expect(add.stderr.contains("note: no relay is serving the control socket"))
        #expect(add.stderr.contains("policy.json is written"))
        var p = try Policy.load(path: dir.file("policy.json"))
        #expect(p.rule(from: "coder", to: "git-mirror") != nil)
        #expect(try dir.read("policy.json") == p.canonicalJSON())
        #expect(try dir.mode("policy.json") == 0o640)

        let again = try airlock(["allow", "coder", "git-mirror", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(again.status == 0 && again.stdout.contains("already allowed") && again.stdout.contains("unchanged"))

        let dest = try airlock(["allow", "coder", "web", "PyPI.org:443", "api.github.com:443", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(dest.stdout == "allowed coder → web pypi.org:443 (policy.json)\n")
        p = try Policy.load(path: dir.file("policy.json"))
        #expect(p.rule(from: "coder", to: "web")?.destinations.map(\.description) == ["api.github.com:443", "10.0.0.0/8:80", "pypi.org:443"])

        let dropOne = try airlock(["deny", "coder", "web", "10.0.0.0/8:80", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(dropOne.stdout == "denied coder → web 10.0.0.0/8:80 (policy.json)\n")
        let dropRest = try airlock(["deny", "coder", "web", "api.github.com:443", "pypi.org:443", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(dropRest.stdout.contains("rule removed"))
        let drop = try airlock(["deny", "coder", "git-mirror", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(drop.stdout == "denied coder → git-mirror (rule removed) (policy.json)\n")
        let none = try airlock(["deny", "coder", "git-mirror", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(none.status == 0 && none.stdout.contains("already denied"))

        p = try Policy.load(path: dir.file("policy.json"))
        #expect(p.rule(from: "coder", to: "web") == nil)
        #expect(p.agents == before.agents && p.services == before.services && p.exits == before.exits && p.peers == before.peers)
        #expect(p.rules == before.rules.filter { $0.to != "web" })
        // Only the policy is left in the directory: no temporary file survives.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".std") }
        #expect(left == ["policy.json"])
    }

    /// Denying one name or address that a wider destination of the rule still allows says so
    /// and fails; repeated operands count once.
    @Test func denyingWhatAWiderDestinationStillAllowsSaysSo() throws {
        let dir = try TempDir()
        try dir.write("policy.json", smallPolicy, mode: 0o640)
        let add = try airlock(["allow", "coder", "web", "*.example.test:8081", "a.example.test:8081", "a.example.test:8081",
                               "[::1]:80", "[0:0::1]:80", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stdout == "allowed coder → web *.example.test:8081 a.example.test:8081 [::1]:80 (policy.json)\n", "\(add.stdout)")
        let deny = try airlock(["deny", "coder", "web", "a.example.test:8081", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(deny.status == 2, "\(deny.stdout) \(deny.stderr)")
        #expect(deny.stdout == "denied coder → web a.example.test:8081 (policy.json)\n")
        #expect(deny.stderr == "airlock: a.example.test:8081 is still allowed by *.example.test:8081 (rule coder → web); deny that destination to end it\n")
        let inside = try airlock(["deny", "coder", "web", "10.1.2.3:80", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(inside.status == 2 && inside.stdout.contains("already denied") && inside.stderr.contains("is still allowed by 10.0.0.0/8:80"), "\(inside)")
    }

    /// Each kind of mistake is refused with what is wrong, and the file keeps every byte.
    @Test func mistakesAreRefusedAndTheFileIsUnchanged() throws {
        let dir = try TempDir()
        try dir.write("policy.json", smallPolicy)
        let cases: [(args: [String], status: Int32, message: String)] = [
            (["allow", "codr", "ollama"], 1, "policy.json: nothing is named codr; AGENT must be an agent, a peer or a service: ci-runner, coder, git-mirror, ollama, reviewer"),
            (["allow", "coder", "olama"], 1, "policy.json: nothing is named olama; TARGET must be a service or an exit: git-mirror, ollama, web"),
            (["allow", "coder", "reviewer"], 1, "policy.json: reviewer is an agent; TARGET must be a service or an exit"),
            (["allow", "coder", "ci-runner"], 1, "policy.json: ci-runner is a peer; TARGET must be a service or an exit"),
            (["allow", "web", "ollama"], 1, "policy.json: web is an exit; an exit cannot be a rule's source"),
            (["allow", "ci-runner", "web"], 1, "web is an exit; name the HOST:PORT destinations ci-runner may reach through it"),
            (["allow", "coder", "ollama", "example.com:443"], 1, "ollama is a service; HOST:PORT applies to exits only"),
            (["allow", "coder", "web", "example.com"], 64, "error: destination example.com: missing port"),
            (["allow", "coder", "web", "*:443"], 64, "error: destination *:443:"),
            (["allow", "coder"], 64, "error: AGENT and TARGET are needed"),
            (["allow", "coder", "coder"], 1, "policy.json: coder is an agent; TARGET must be a service or an exit"),
            (["allow", "ollama", "ollama"], 1, "policy.json: after this edit, rules[4].to: "),
        ]
        let original = try dir.read("policy.json")
        for c in cases {
            let r = try airlock(c.args + ["--policy", "policy.json", "--no-reload"], in: dir)
            #expect(r.status == c.status, "\(c.args): \(r.stderr)")
            #expect(r.stderr.contains(c.message), "\(c.args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(c.args)")
            #expect(try dir.read("policy.json") == original, "\(c.args) changed the file")
        }
    }

    @Test func aPolicyThatDoesNotValidateNowIsNotEdited() throws {
        let dir = try TempDir()
        let broken = smallPolicy.replacingOccurrences(of: #""uid": 1000"#, with: #""uid": "bob""#)
        try dir.write("policy.json", broken)
        let r = try airlock(["allow", "coder", "git-mirror", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("policy.json:4:"))
        #expect(r.stderr.contains("agents.coder.uid: expected"))
        #expect(r.stderr.contains("does not validate now; fix it first"))
        #expect(try dir.read("policy.json") == broken)
        let missing = try airlock(["deny", "coder", "ollama", "--policy", "nope.json", "--no-reload"], in: dir)
        #expect(missing.status == 1 && missing.stderr.contains("cannot open the policy nope.json"))
    }

    /// A policy reached through a symlink is edited where it is: the link stays a link.
    @Test func aSymlinkedPolicyIsEditedInPlace() throws {
        let dir = try TempDir()
        try dir.write("real.json", smallPolicy, mode: 0o600)
        #expect(symlink("real.json", dir.file("policy.json")) == 0)
        let r = try airlock(["allow", "coder", "git-mirror", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        var st = stat()
        #expect(lstat(dir.file("policy.json"), &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK)
        #expect(try Policy.load(path: dir.file("real.json")).rule(from: "coder", to: "git-mirror") != nil)
        #expect(try dir.mode("real.json") == 0o600)
    }

    /// Root editing another user's policy leaves it theirs (the relay's `reload` trusts the
    /// file's owner, so the owner must not change under an edit).
    @Test func theOwnerAndModeAreKept() throws {
        let dir = try TempDir()
        try dir.write("policy.json", smallPolicy, mode: 0o604)
        let root = geteuid() == 0
        if root { #expect(chown(dir.file("policy.json"), 4242, 4343) == 0) }
        let r = try airlock(["allow", "coder", "git-mirror", "--policy", "policy.json", "--no-reload"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        var st = stat()
        #expect(stat(dir.file("policy.json"), &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o604)
        if root { #expect(st.st_uid == 4242 && st.st_gid == 4343) }
    }

    /// Many `airlock allow` processes at once, each adding its own rule: every one lands.
    @Test func concurrentEditsAllLand() async throws {
        let dir = try TempDir()
        let n = 12
        let services = (0..<n).map { i in "\"s\(i)\": { \"peer\": \"\(PolicyEditCommandTests.peer(i))\" }" }.joined(separator: ", ")
        try dir.write("policy.json", """
            { "version": 1, "agents": { "coder": { "uid": 1000 } }, "services": { \(services) }, "rules": [] }
            """)
        let children = try (0..<n).map { i in
            try ChildProcess(airlockBinary(), ["allow", "coder", "s\(i)", "--policy", dir.file("policy.json")] + Self.noRelay,
                             name: "allow \(i)", directory: dir.path, environment: ["PATH": "/usr/bin:/bin"])
        }
        for c in children {
            let status = try await c.waitForExit(timeout: 60)
            #expect(status == 0, "\(c.name): \(c.stderrText)")
        }
        let p = try Policy.load(path: dir.file("policy.json"))
        #expect(Set(p.rules.map(\.to)) == Set((0..<n).map { "s\($0)" }))
        #expect(p.rules.count == n)
    }

    @Test func helpIsPrintedForEveryNewCommand() throws {
        let dir = try TempDir()
        for (path, help) in [(["allow"], AllowCommand.help), (["deny"], DenyCommand.help), (["status"], StatusCommand.help),
                             (["policy", "reload"], PolicyReloadCommand.help)] {
            let r = try airlock(path + ["--help"], in: dir)
            #expect(r.status == 0)
            #expect(r.stdout == help + "\n")
            #expect(help.hasPrefix("usage: airlock \(path.joined(separator: " "))"))
        }
        let usage = try airlock(["status", "extra"], in: dir)
        #expect(usage.status == 64 && usage.stderr.hasPrefix("error: unexpected argument extra\nusage: airlock status"))
        let reload = try airlock(["policy", "reload"] + Self.noRelay, in: dir)
        #expect(reload.status == 1 && reload.stderr.contains("no relay is serving the control socket"))
        let status = try airlock(["status"] + Self.noRelay, in: dir)
        #expect(status.status == 1 && status.stderr.contains("error: no relay is serving the control socket /nonexistent/airlock-test/control.sock"))
    }

    /// A fresh, well-formed peer ID for generated policies.
    static func peer(_ i: Int) -> String { "\(PeerID(publicKey: Ed25519PrivateKey().publicKey))" }
}
