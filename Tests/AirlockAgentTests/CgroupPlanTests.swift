import Testing
@testable import AirlockAgent

/// What each layout does with each limit, and what it refuses (`CgroupLayout.plan`).
struct CgroupPlanTests {
    static let hybrid = CgroupLayout(mountinfo: MountinfoFixtures.hybrid, unifiedControllers: [], hasKill: true)
    static let v2 = CgroupLayout(mountinfo: MountinfoFixtures.v2, unifiedControllers: MountinfoFixtures.v2Controllers, hasKill: true)
    static let v1Only = CgroupLayout(mountinfo: MountinfoFixtures.v1Only, unifiedControllers: [], hasKill: true)
    static let all = RunLimits(timeout: 30, memory: 256 << 20, pids: 64, cpu: 10, killOnDeny: 3)

    @Test func hybridUsesV1ControllersAndV2Kill() throws {
        let p = try Self.hybrid.plan(Self.all)
        #expect(p.hierarchies == ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpuacct"])
        #expect(p.unified == "/sys/fs/cgroup/unified" && p.kill == "/sys/fs/cgroup/unified" && p.controllers.isEmpty)
        #expect(p.writes == [
            .init(hierarchy: "/sys/fs/cgroup/pids", file: "pids.max", value: "64"),
            .init(hierarchy: "/sys/fs/cgroup/memory", file: "memory.limit_in_bytes", value: "268435456"),
            .init(hierarchy: "/sys/fs/cgroup/memory", file: "memory.memsw.limit_in_bytes", value: "268435456", ifPresent: true),
            .init(hierarchy: "/sys/fs/cgroup/memory", file: "memory.kmem.tcp.limit_in_bytes", value: "268435456", ifPresent: true),
        ])
        #expect(p.watches == [
            .init(hierarchy: "/sys/fs/cgroup/pids", file: "pids.events", key: "max", bound: 1, reason: .pids),
            .init(hierarchy: "/sys/fs/cgroup/memory", file: "memory.oom_control", key: "oom_kill", bound: 1, reason: .memory),
            .init(hierarchy: "/sys/fs/cgroup/cpuacct", file: "cpuacct.usage", key: nil, bound: 10_000_000_000, reason: .cpu),
        ])
        #expect(p.timeoutMilliseconds == 30_000)
        #expect(p.description == "pids 64 (v1 pids), memory 256 MiB (v1 memory), cpu 10 s (v1 cpuacct), timeout 30 s, kill-on-deny 3, kill cgroup.kill (v2)")
    }

    @Test func pureV2EnablesControllersAndTurnsSwapOff() throws {
        let p = try Self.v2.plan(Self.all)
        #expect(p.hierarchies == ["/sys/fs/cgroup"] && p.kill == "/sys/fs/cgroup")
        #expect(p.controllers == ["pids", "memory"])
        #expect(p.writes == [
            .init(hierarchy: "/sys/fs/cgroup", file: "pids.max", value: "64"),
            .init(hierarchy: "/sys/fs/cgroup", file: "memory.max", value: "268435456"),
            .init(hierarchy: "/sys/fs/cgroup", file: "memory.swap.max", value: "0", ifPresent: true),
        ])
        #expect(p.watches.map(\.file) == ["pids.events", "memory.events", "cpu.stat"])
        #expect(p.watches[2].key == "usage_usec" && p.watches[2].bound == 10_000_000)
        #expect(p.description == "pids 64 (v2 pids), memory 256 MiB (v2 memory), cpu 10 s (v2 cpu.stat), timeout 30 s, kill-on-deny 3, kill cgroup.kill (v2)")
    }

    @Test func v1OnlyHasNoKillSwitch() throws {
        let p = try Self.v1Only.plan(RunLimits(pids: 8))
        #expect(p.hierarchies == ["/sys/fs/cgroup/pids"] && p.kill == nil && p.unified == nil)
        #expect(p.description == "pids 8 (v1 pids), kill through the PID namespace")
        #expect(try !Self.v1Only.plan(RunLimits(timeout: 5)).needsCgroup, "a timeout is the init's alone")
    }

    @Test func everyRunGetsAV2CgroupWhenThereIsCgroupKill() throws {
        #expect(try Self.hybrid.plan(RunLimits()).hierarchies == ["/sys/fs/cgroup/unified"])
        let bare = try Self.hybrid.plan(RunLimits(timeout: 5))
        #expect(bare.description == "timeout 5 s, kill cgroup.kill (v2)" && bare.isOnlyKillSwitch)
        #expect(!bare.withoutCgroup().needsCgroup && bare.withoutCgroup().description == "timeout 5 s, kill through the PID namespace",
                "where the cgroup cannot be made, a run without limits goes on without it")
        #expect(try !Self.hybrid.plan(RunLimits(pids: 1)).isOnlyKillSwitch)
        var old = Self.hybrid
        old.hasKill = false
        #expect(try !old.plan(RunLimits()).needsCgroup)
    }

    @Test func aLimitTheLayoutCannotEnforceIsRefusedByName() throws {
        // The v2 hierarchy offers no controllers (as in a hybrid whose v1 mounts are missing).
        let bare = CgroupLayout(mountinfo: "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw", unifiedControllers: [], hasKill: true)
        #expect(throws: LimitError("--memory 64 MiB: this machine cannot enforce it: no memory controller (no writable v1 memory hierarchy is mounted, and /sys/fs/cgroup/unified/cgroup.controllers lacks memory)")) {
            try bare.plan(RunLimits(memory: 64 << 20))
        }
        #expect(throws: LimitError("--pids 32: this machine cannot enforce it: no pids controller (no writable v1 pids hierarchy is mounted, and /sys/fs/cgroup/unified/cgroup.controllers lacks pids)")) {
            try bare.plan(RunLimits(pids: 32))
        }
        #expect(try bare.plan(RunLimits(cpu: 2)).description == "cpu 2 s (v2 cpu.stat), kill cgroup.kill (v2)", "cpu.stat needs no controller")
        let none = CgroupLayout()
        #expect(throws: LimitError("--cpu 1.5 s: this machine cannot enforce it: no cpuacct controller (no writable v1 cpuacct hierarchy, and no cgroup v2 hierarchy for cpu.stat)")) {
            try none.plan(RunLimits(cpu: 1.5))
        }
        #expect(throws: LimitError("--pids 4: this machine cannot enforce it: no pids controller (no writable v1 pids hierarchy is mounted, and there is no writable cgroup v2 hierarchy)")) {
            try none.plan(RunLimits(pids: 4))
        }
        #expect(try none.plan(RunLimits(timeout: 1, killOnDeny: 2)).description == "timeout 1 s, kill-on-deny 2, kill through the PID namespace")
    }

    @Test func countersAreReadAsTheInitReadsThem() {
        #expect(CgroupPlan.counter("max 0\n", key: "max") == 0)
        #expect(CgroupPlan.counter("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", key: "oom_kill") == 3)
        #expect(CgroupPlan.counter("usage_usec 1234\nuser_usec 1000\n", key: "usage_usec") == 1234)
        #expect(CgroupPlan.counter("987654321\n", key: nil) == 987_654_321)
        #expect(CgroupPlan.counter("low 0\nhigh 0\n", key: "oom_kill") == nil)
        #expect(CgroupPlan.counter("", key: nil) == nil)
    }

    @Test func theHelpLineSaysWhatThisLayoutEnforces() {
        #expect(Self.hybrid.onThisMachine == "on this machine: --memory, --pids, --cpu (hybrid: v1 memory, pids, cpuacct; v2 cgroup.kill)")
        #expect(Self.v2.onThisMachine == "on this machine: --memory, --pids, --cpu (cgroup v2: memory, pids, cpu.stat, cgroup.kill)")
        #expect(Self.v1Only.onThisMachine == "on this machine: --memory, --pids, --cpu (cgroup v1: memory, pids, cpuacct; no cgroup.kill)")
        let bare = CgroupLayout(mountinfo: "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw", unifiedControllers: [], hasKill: true)
        #expect(bare.onThisMachine == "on this machine: --cpu (cgroup v2: cpu.stat, cgroup.kill); not --memory, --pids: no controller for it")
        #expect(CgroupLayout().onThisMachine == "on this machine: none of --memory, --pids, --cpu (no cgroups: no writable cgroup hierarchy); --timeout and --kill-on-deny work")
    }
}
