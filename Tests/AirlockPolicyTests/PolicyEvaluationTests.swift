import Testing
import AirlockCore
@testable import AirlockPolicy

@Suite struct PolicyEvaluationTests {
    let policy = try! Policy.load(path: examplePolicyPath())
    /// A run of agent coder is live with identity runA.
    var bindings: Policy.Bindings {
        var b = Policy.Bindings()
        b.bind(IDs.runA, to: "coder")
        return b
    }

    @Test func emptyPolicyDeniesEverything() throws {
        let empty = try Policy.parse(text: #"{"version": 1}"#)
        #expect(empty.mayReserve(peer: IDs.ollama).reason == .unknownPeer)
        #expect(empty.mayConnect(from: IDs.runA, to: IDs.ollama).reason == .unknownPeer)
        #expect(empty.mayExit(from: IDs.runA, exit: "web", host: .name("example.com"), port: 443).reason == .unknownPeer)
        #expect(!empty.mayReserve(peer: IDs.ollama).allowed)
    }

    @Test func onlyServicesAndExitPeersReserve() {
        #expect(policy.mayReserve(peer: IDs.ollama).reason == .service)
        #expect(policy.mayReserve(peer: IDs.ollama).allowed)
        #expect(policy.mayReserve(peer: IDs.lab).reason == .exit)
        #expect(policy.mayReserve(peer: IDs.reviewer).reason == .notAService)
        #expect(policy.mayReserve(peer: IDs.ciRunner).reason == .notAService)
        #expect(policy.mayReserve(peer: IDs.runA, bindings: bindings).reason == .notAService)
        #expect(policy.mayReserve(peer: IDs.runA).reason == .unknownPeer)
        #expect(policy.mayReserve(peer: IDs.stranger).reason == .unknownPeer)
        #expect(policy.mayReserve(peer: IDs.ciRunner).description == "deny not-a-service: peer ci-runner is not a service or exit, so it may not reserve")
    }

    @Test func connectNeedsARule() {
        let allowed = policy.mayConnect(from: IDs.runA, to: IDs.ollama, bindings: bindings)
        #expect(allowed.reason == .rule && allowed.allowed && allowed.source == "coder")
        #expect(allowed.limits == Policy.Limits(maxCircuits: 64, killAfterDenials: 20))
        // Rule limits tighten the agent's.
        #expect(policy.mayConnect(from: IDs.runA, to: IDs.gitMirror, bindings: bindings).limits
                == Policy.Limits(circuitSeconds: 3600, maxCircuits: 64, killAfterDenials: 20))
        #expect(policy.mayConnect(from: IDs.reviewer, to: IDs.ollama).reason == .rule)
        #expect(policy.mayConnect(from: IDs.reviewer, to: IDs.lab).limits == Policy.Limits(circuitBytes: 1 << 30))
        #expect(policy.mayConnect(from: IDs.ciRunner, to: IDs.ollama).limits == Policy.Limits(circuitSeconds: 600, maxCircuits: 4))

        let noRule = policy.mayConnect(from: IDs.reviewer, to: IDs.gitMirror)
        #expect(noRule.reason == .noRule && !noRule.allowed && noRule.source == "reviewer")
        #expect(noRule.text == "no rule from agent reviewer to service git-mirror")
        #expect(policy.mayConnect(from: IDs.ciRunner, to: IDs.gitMirror).reason == .noRule)
        #expect(policy.mayConnect(from: IDs.ollama, to: IDs.gitMirror).reason == .noRule)
        #expect(policy.mayConnect(from: IDs.lab, to: IDs.ollama).reason == .noRule, "an exit is never a source")
        #expect(policy.mayConnect(from: IDs.stranger, to: IDs.ollama).reason == .unknownPeer)
        #expect(policy.mayConnect(from: IDs.runA, to: IDs.ollama).reason == .unknownPeer, "an unbound run identity is nobody")
        #expect(policy.mayConnect(from: IDs.reviewer, to: IDs.stranger).reason == .unknownTarget)
        #expect(policy.mayConnect(from: IDs.ciRunner, to: IDs.reviewer).reason == .notATarget)
        #expect(policy.mayConnect(from: IDs.reviewer, to: IDs.ciRunner).reason == .notATarget)
        #expect(policy.mayConnect(from: IDs.reviewer, to: IDs.runA, bindings: bindings).reason == .notATarget)
    }

    @Test func connectByName() {
        #expect(policy.mayConnect(from: IDs.runA, toNamed: "web", bindings: bindings).reason == .rule)
        #expect(policy.mayConnect(from: IDs.reviewer, toNamed: "web").reason == .noRule)
        #expect(policy.mayConnect(from: IDs.reviewer, toNamed: "nowhere").reason == .unknownTarget)
        #expect(policy.mayConnect(from: IDs.reviewer, toNamed: "coder").reason == .notATarget)
        #expect(policy.mayConnect(from: IDs.reviewer, toNamed: "ci-runner").reason == .notATarget)
    }

    @Test func exitDestinationsAreChecked() {
        func exit(_ from: PeerID, _ name: String, _ host: String, _ port: UInt16) -> Policy.Decision.Reason {
            policy.mayExit(from: from, exit: name, host: NormalisedHost(host)!, port: port, bindings: bindings).reason
        }
        #expect(exit(IDs.runA, "web", "api.github.com", 443) == .destination)
        #expect(exit(IDs.runA, "web", "API.GITHUB.COM.", 443) == .destination)
        #expect(exit(IDs.runA, "web", "api.github.com", 80) == .noDestination)
        #expect(exit(IDs.runA, "web", "github.com", 443) == .noDestination)
        #expect(exit(IDs.runA, "web", "files.pypi.org", 443) == .destination)
        #expect(exit(IDs.runA, "web", "pypi.org", 443) == .noDestination)
        #expect(exit(IDs.runA, "web", "evilpypi.org", 443) == .noDestination)
        #expect(exit(IDs.runA, "lab", "10.20.0.1", 8000) == .noRule)
        #expect(exit(IDs.runA, "moon", "10.20.0.1", 8000) == .unknownExit)
        #expect(exit(IDs.runB, "web", "api.github.com", 443) == .unknownPeer)
        #expect(exit(IDs.reviewer, "lab", "10.20.255.1", 8080) == .destination)
        #expect(exit(IDs.reviewer, "lab", "10.20.255.1", 8081) == .noDestination)
        #expect(exit(IDs.reviewer, "lab", "10.21.0.1", 8000) == .noDestination)
        #expect(exit(IDs.reviewer, "lab", "::ffff:10.20.0.9", 8000) == .destination)
        #expect(exit(IDs.reviewer, "lab", "[2001:db8:20:1::5]", 443) == .destination)
        #expect(exit(IDs.reviewer, "lab", "2001:db8:21::5", 443) == .noDestination)
        let d = policy.mayExit(from: IDs.runA, exit: "web", host: .name("x.pypi.org"), port: 443, bindings: bindings)
        #expect(d.text == "x.pypi.org:443 allowed by *.pypi.org:443 in rule coder → web")
        #expect(d.limits == Policy.Limits(maxCircuits: 64, killAfterDenials: 20))
    }

    /// A blocked address is dialled only when the rule names it by address: the exit asks
    /// `mayExit` again with the address as the host, which only address patterns match.
    @Test func onlyAddressDestinationsNameBlockedAddresses() {
        func names(_ from: PeerID, _ exit: String, _ address: String, _ port: UInt16) -> Bool {
            guard case .success(let host) = NormalisedHost.parse(Substring(address)) else { return false }
            return policy.mayExit(from: from, exit: exit, host: host, port: port, bindings: bindings).allowed
        }
        #expect(AddressBlocklist.blocked(IPAddress("10.20.0.9")!)?.token == "private")
        #expect(names(IDs.reviewer, "lab", "10.20.0.9", 8000))
        #expect(names(IDs.reviewer, "lab", "::ffff:10.20.0.9", 8080))
        #expect(!names(IDs.reviewer, "lab", "10.20.0.9", 8081))
        #expect(!names(IDs.reviewer, "lab", "10.21.0.9", 8000))
        #expect(names(IDs.reviewer, "lab", "2001:db8:20::1", 443))
        #expect(!names(IDs.reviewer, "web", "10.20.0.9", 8000), "no rule from reviewer to web")
        // coder's rule to web has only name destinations: whatever they resolve to, none names an address.
        #expect(!names(IDs.runA, "web", "127.0.0.1", 443))
        #expect(!names(IDs.runA, "web", "10.20.0.9", 443))
        #expect(!names(IDs.stranger, "lab", "10.20.0.9", 8000))
    }

    @Test func bindingsFollowThePolicy() {
        var b = Policy.Bindings()
        #expect(policy.mayBind(IDs.runA, to: "coder", bindings: b).reason == .bindable)
        b.bind(IDs.runA, to: "coder")
        #expect(policy.mayBind(IDs.runA, to: "coder", bindings: b).reason == .identityInUse)
        #expect(policy.mayBind(IDs.runB, to: "coder", bindings: b).reason == .bindable, "several runs of one agent")
        #expect(policy.mayBind(IDs.runB, to: "reviewer", bindings: b).reason == .fixedIdentity)
        #expect(policy.mayBind(IDs.runB, to: "ghost", bindings: b).reason == .unknownAgent)
        #expect(policy.mayBind(IDs.ollama, to: "coder", bindings: b).reason == .identityInUse, "a listed identity cannot be a run")
        b.bind(IDs.runB, to: "coder")
        #expect(b.peers(of: "coder") == [IDs.runA, IDs.runB].sorted())
        #expect(policy.agent(for: IDs.runB, bindings: b)?.name == "coder")
        b.unbind(IDs.runA)
        #expect(policy.mayConnect(from: IDs.runA, to: IDs.ollama, bindings: b).reason == .unknownPeer)
        // A binding to an agent with a fixed identity, or to a name that is not an agent, counts for nothing.
        var forged = Policy.Bindings([IDs.stranger: "reviewer"])
        #expect(policy.mayConnect(from: IDs.stranger, to: IDs.ollama, bindings: forged).reason == .unknownPeer)
        forged = Policy.Bindings([IDs.stranger: "ollama"])
        #expect(policy.entry(for: IDs.stranger, bindings: forged) == nil)
        // A listed identity wins over a binding naming it.
        forged = Policy.Bindings([IDs.ollama: "coder"])
        #expect(policy.mayReserve(peer: IDs.ollama, bindings: forged).reason == .service)
    }

    @Test func reloadNarrowsLiveCircuits() throws {
        // The relay re-asks every live circuit after a reload; a removed rule now denies.
        var rules = policy.rules
        rules.removeAll { $0.from == "coder" && $0.to == "ollama" }
        let narrower = try Policy.validated(agents: policy.agents, services: policy.services, exits: policy.exits, peers: policy.peers, rules: rules)
        #expect(policy.mayConnect(from: IDs.runA, to: IDs.ollama, bindings: bindings).allowed)
        #expect(narrower.mayConnect(from: IDs.runA, to: IDs.ollama, bindings: bindings).reason == .noRule)
    }

    @Test func runScopeNarrowsAndOnlyRootsGrants() {
        let ollama = policy.mayConnect(from: IDs.runA, to: IDs.ollama, bindings: bindings)
        let mirror = policy.mayConnect(from: IDs.runA, to: IDs.gitMirror, bindings: bindings)
        let lab = policy.mayConnect(from: IDs.runA, to: IDs.lab, bindings: bindings)
        #expect(ollama.allowed && mirror.allowed && lab.reason == .noRule)
        // No scope: the policy's decision as it is.
        #expect(policy.scoped(ollama, target: IDs.ollama, scope: nil, bindings: bindings) == ollama)
        // A caller's --allow ollama: only ollama stays; nothing is granted.
        let narrow = Policy.RunScope(only: ["ollama"])
        #expect(policy.scoped(ollama, target: IDs.ollama, scope: narrow, bindings: bindings) == ollama)
        let cut = policy.scoped(mirror, target: IDs.gitMirror, scope: narrow, bindings: bindings)
        #expect(cut.reason == .outsideRunScope && !cut.allowed && cut.source == "coder")
        #expect(cut.text == "git-mirror is not in this run's --allow list")
        #expect(policy.scoped(lab, target: IDs.lab, scope: Policy.RunScope(only: ["lab"]), bindings: bindings).reason == .noRule)
        // Root's --allow lab: granted without a rule, and still nothing else.
        let root = Policy.RunScope(only: ["lab"], granted: ["lab"])
        let granted = policy.scoped(lab, target: IDs.lab, scope: root, bindings: bindings)
        #expect(granted.reason == .runGrant && granted.allowed && granted.text == "lab granted to this run by --allow")
        #expect(policy.scoped(ollama, target: IDs.ollama, scope: root, bindings: bindings).reason == .outsideRunScope)
        // A grant never rescues another kind of denial.
        let unknown = policy.mayConnect(from: IDs.stranger, to: IDs.lab)
        #expect(policy.scoped(unknown, target: IDs.lab, scope: root).reason == .unknownPeer)
    }

    @Test func reasonsAreStable() {
        #expect(Policy.Decision.Reason.allCases.map(\.rawValue) == [
            "service", "exit", "rule", "destination", "bindable", "run-grant",
            "unknown-peer", "not-a-service", "unknown-target", "not-a-target", "no-rule", "unknown-exit", "no-destination",
            "unknown-agent", "fixed-identity", "identity-in-use", "outside-run-scope",
        ])
        #expect(Policy.Decision.Reason.allCases.filter(\.allows).map(\.rawValue) == ["service", "exit", "rule", "destination", "bindable", "run-grant"])
    }

    @Test func limitsTightenFieldByField() {
        let agent = Policy.Limits(circuitSeconds: 100, maxCircuits: 8, killAfterDenials: 3)
        let rule = Policy.Limits(circuitSeconds: 50, circuitBytes: 1000, maxCircuits: 16)
        #expect(agent.tightened(by: rule) == Policy.Limits(circuitSeconds: 50, circuitBytes: 1000, maxCircuits: 8, killAfterDenials: 3))
        #expect(Policy.Limits.none.tightened(by: .none).isEmpty)
    }
}
