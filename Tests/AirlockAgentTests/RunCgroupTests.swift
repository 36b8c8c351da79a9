import Foundation
import Testing
import AirlockNet
@testable import AirlockAgent

/// Privileged: a run's cgroup on this machine's real layout, with a real agent in it. Each test
/// uses its own `airlock-<prefix>` and removes it, also when it fails.
@Suite(.serialized, .enabled(if: Privileged.shouldRun, Comment(rawValue: Privileged.missing ?? "")))
struct RunCgroupTests {
    static let layout = CgroupLayout.current()

    /// A fresh prefix whose directories `finish` kills and removes.
    struct Scratch {
        let prefix = "cgt" + String(format: "%05x", UInt32.random(in: 0..<0xfffff))
        func finish() {
            for h in RunCgroupTests.layout.hierarchies {
                for name in RunCgroup.subdirectories("\(h)/\(RunCgroup.parentName(prefix: prefix))") {
                    guard let cg = RunCgroup.adopt(RunCgroupTests.layout, prefix: prefix, name: name) else { continue }
                    cg.kill()
                    for _ in 0..<250 where !cg.remove().isEmpty { usleep(20_000) }
                }
            }
            RunCgroup.removeParents(RunCgroupTests.layout, prefix: prefix)
        }
    }

    static func read(_ path: String) -> String { CgroupLayout.readSmallFile(path)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }

    @Test func createSetsTheLimitsAndTheAgentJoinsThenKillAndRemoveLeaveNothing() throws {
        try Privileged.requirePrivilege()
        let c = Scratch(); defer { c.finish() }
        let s = try ScratchNamespace(); defer { s.finish() }
        let plan = try Self.layout.plan(RunLimits(memory: 64 << 20, pids: 16))
        let cg = try RunCgroup.create(plan, prefix: c.prefix, name: "run")
        #expect(cg.leaves.count == plan.hierarchies.count && cg.leaves.allSatisfy { $0.hasSuffix("/airlock-\(c.prefix)/run") })
        for w in plan.writes where !w.ifPresent || access("\(cg.leaf(in: w.hierarchy))/\(w.file)", F_OK) == 0 {
            let got = Self.read("\(cg.leaf(in: w.hierarchy))/\(w.file)")
            #expect(got == w.value, "\(w.file): \(got)")
        }
        #expect(cg.joinDescriptors.count == cg.leaves.count && cg.watches.count == plan.watches.count)
        #expect((cg.killDescriptor >= 0) == (plan.kill != nil))

        var sp = try spec(["sh", "-c", "(setsid sleep 300 &); exec sleep 301"], in: s.namespace)
        cg.apply(to: &sp)
        let p = try AgentProcess.spawn(sp)
        cg.closeSpawnDescriptors()
        #expect(cg.holds(pid: p.pid), "the init is in every leaf: \(Self.read("/proc/\(p.pid)/cgroup"))")
        #expect(eventually(10_000) { Self.read("\(cg.leaves[0])/cgroup.procs").split(separator: "\n").count == 3 },
                "init, sh-turned-sleep and the detached sleep")
        #expect(!cg.remove().isEmpty, "busy while its processes live")
        #expect(cg.reachedLimit() == nil)
        if plan.kill != nil {
            #expect(cg.kill())
        } else {
            p.kill()
        }
        #expect(p.wait() == .signaled(SIGKILL))
        #expect(eventually(10_000) { cg.remove().isEmpty })
        #expect(cg.isRemoved && cg.leaves.allSatisfy { access($0, F_OK) != 0 })
    }

    @Test func theInitReportsTheBoundItHitThroughTheLifeline() throws {
        try Privileged.requirePrivilege()
        let c = Scratch(); defer { c.finish() }
        let s = try ScratchNamespace(); defer { s.finish() }
        let limits = RunLimits(pids: 8)
        let plan = try Self.layout.plan(limits)
        let cg = try RunCgroup.create(plan, prefix: c.prefix, name: "bomb")
        let (mine, theirs) = try AgentProcessLifelineTests.lifeline()
        defer { close(mine) }
        var sp = try spec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 & done; wait"], in: s.namespace)
        sp.lifeline = theirs
        sp.lifelineCarriesSignals = true
        cg.apply(to: &sp)
        let p = try AgentProcess.spawn(sp)
        close(theirs)
        cg.closeSpawnDescriptors()
        let report = try #require(AgentProcessLifelineTests.receive(mine))
        #expect(report.count == 8)
        let words = report.withUnsafeBytes { [$0.load(as: Int32.self), $0.load(fromByteOffset: 4, as: Int32.self)] }
        #expect(words == [0x4c49_4d54, LimitWatch.Reason.pids.rawValue])
        #expect(p.wait().code == 137)
        #expect(cg.reachedLimit() == .pids)
        #expect(eventually(10_000) { cg.remove().isEmpty })
    }

    @Test func theSweepRemovesEmptyLeavesAndKeepsBusyOnes() throws {
        try Privileged.requirePrivilege()
        let c = Scratch(); defer { c.finish() }
        let s = try ScratchNamespace(); defer { s.finish() }
        let plan = try Self.layout.plan(RunLimits(pids: 8))
        _ = try RunCgroup.create(plan, prefix: c.prefix, name: "stale")
        let busy = try RunCgroup.create(plan, prefix: c.prefix, name: "alive")
        var sp = try spec(["sleep", "300"], in: s.namespace)
        busy.apply(to: &sp)
        let p = try AgentProcess.spawn(sp)
        busy.closeSpawnDescriptors()
        let swept = RunCgroup.sweep(Self.layout, prefix: c.prefix)
        #expect(Set(swept.removed) == Set(plan.hierarchies.map { "\($0)/airlock-\(c.prefix)/stale" }))
        #expect(Set(swept.kept) == Set(busy.leaves))
        #expect(RunCgroup.exists(Self.layout, prefix: c.prefix, name: "alive") && !RunCgroup.exists(Self.layout, prefix: c.prefix, name: "stale"))
        let adopted = try #require(RunCgroup.adopt(Self.layout, prefix: c.prefix, name: "alive"))
        #expect(adopted.holds(pid: p.pid) && adopted.plan.kill == plan.kill)
        // Creating over a live one is refused; the live one is untouched.
        #expect(throws: CgroupError.self) { try RunCgroup.create(plan, prefix: c.prefix, name: "alive") }
        #expect(busy.holds(pid: p.pid))
        p.kill()
        _ = p.wait()
    }
}
