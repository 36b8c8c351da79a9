import Foundation
import Testing
@testable import AirlockCLI

@Suite struct PolicyCheckCommandTests {
    func check(_ args: [String]) throws -> RunResult {
        let dir = try TempDir()
        try dir.write("policy.json", smallPolicy)
        return try airlock(["policy", "check"] + args + ["--policy", "policy.json"], in: dir)
    }

    @Test func allowPrintsReasonAndLimits() throws {
        let r = try check(["coder", "ollama"])
        #expect(r.status == 0)
        // The agent's max_circuits tightened by the rule's circuit_seconds.
        #expect(r.stdout == "allow: rule — rule coder → ollama\nlimits: circuit_seconds=60 max_circuits=8\n")
    }

    @Test func denyExitsTwoWithItsReason() throws {
        let r = try check(["coder", "git-mirror"])
        #expect(r.status == 2)
        #expect(r.stdout == "deny: no-rule — no rule from agent coder to service git-mirror\n")
        #expect(r.stderr.isEmpty)
    }

    @Test func namesAndPeerIDsAreInterchangeable() throws {
        let byPeer = try check([IDs.reviewer, IDs.gitMirror])
        #expect(byPeer.status == 0)
        #expect(byPeer.stdout == "allow: rule — rule reviewer → git-mirror\n")
        #expect(try check(["ci-runner", IDs.ollama]).status == 0)
    }

    @Test func unknownAndUntargetablePeersAreDenied() throws {
        let stranger = try check([IDs.stranger, "ollama"])
        #expect(stranger.status == 2)
        #expect(stranger.stdout.hasPrefix("deny: unknown-peer — "))
        let toStranger = try check(["coder", IDs.stranger])
        #expect(toStranger.status == 2)
        #expect(toStranger.stdout.hasPrefix("deny: unknown-target — "))
        let toAgent = try check(["ci-runner", "coder"])
        #expect(toAgent.status == 2)
        #expect(toAgent.stdout.hasPrefix("deny: not-a-target — "))
    }

    @Test func exitDestinations() throws {
        let allowed = try check(["coder", "web", "API.github.com:443"])
        #expect(allowed.status == 0)
        #expect(allowed.stdout.hasPrefix("allow: destination — api.github.com:443 allowed by api.github.com:443 in rule coder → web\n"))
        #expect(allowed.stdout.contains("note: the exit resolves api.github.com itself and refuses any address of it on its blocklist"))
        let named = try check(["coder", "web", "10.1.2.3:80"])
        #expect(named.status == 0)
        #expect(named.stdout.contains("note: 10.1.2.3 is private (10.0.0.0/8), which the exit refuses unless a rule names it, as this one does"), "\(named.stdout)")
        let otherPort = try check(["coder", "web", "10.1.2.3:81"])
        #expect(otherPort.status == 2)
        #expect(otherPort.stdout.hasPrefix("deny: no-destination — "))
        let noRule = try check(["reviewer", "web", "api.github.com:443"])
        #expect(noRule.status == 2)
        #expect(noRule.stdout.hasPrefix("deny: no-rule — "))
    }

    @Test func questionsThatCannotBeAskedExitOne() throws {
        let typo = try check(["codr", "ollama"])
        #expect(typo.status == 1)
        #expect(typo.stdout.isEmpty)
        #expect(typo.stderr.hasPrefix("error: codr is neither a name in the policy policy.json nor a peer ID; its names are: ci-runner, coder,"))
        let serviceWithHost = try check(["coder", "ollama", "example.com:443"])
        #expect(serviceWithHost.status == 1)
        #expect(serviceWithHost.stderr.contains("HOST:PORT applies only when TO is an exit"))
        let builtInExitAsSource = try check(["web", "ollama"])
        #expect(builtInExitAsSource.status == 1)
    }

    @Test func invalidPolicyExitsOne() throws {
        let dir = try TempDir()
        try dir.write("bad.json", "[]")
        let r = try airlock(["policy", "check", "a", "b", "--policy", "bad.json"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("airlock policy validate bad.json"))
    }

    @Test func usageErrors() throws {
        #expect(CLI.main(["policy", "check"]) == 64)
        #expect(CLI.main(["policy", "check", "coder"]) == 64)
        #expect(CLI.main(["policy", "check", "a", "b", "c:1", "d"]) == 64)
        for bad in ["example.com", "example.com:0", "example.com:65536", "::1:443", "bad host:443", "[10.0.0.1]:443"] {
            #expect(CLI.main(["policy", "check", "coder", "web", bad]) == 64, "\(bad)")
        }
        let r = try check(["coder", "web", "example.com"])
        #expect(r.status == 64)
        #expect(r.stderr.hasSuffix("\(usageLine(PolicyCheckCommand.help))\n"))
    }

    @Test func hostPortParsing() throws {
        let v6 = try PolicyCheckCommand.parseHostPort("[2001:DB8::1]:443")
        #expect(v6.host.description == "[2001:db8::1]" && v6.port == 443)
        let name = try PolicyCheckCommand.parseHostPort("Example.COM.:8080")
        #expect(name.host.description == "example.com" && name.port == 8080)
    }
}
