import Testing
@testable import AirlockAgent

/// `/proc/self/mountinfo` of the three layouts airlock supports, and of the odd cases.
enum MountinfoFixtures {
    /// This machine's: v1 controllers each on their own, a controller-less cgroup2 at unified.
    static let hybrid = """
        23 1 0:21 / / rw,relatime - ext4 /dev/vda rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
    /// systemd's unified layout.
    static let v2 = """
        22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
        30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """
    /// An older distribution's: no cgroup2 at all, cpu and cpuacct mounted together.
    static let v1Only = """
        25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
        29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
        30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
        31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
        """
    static let v2Controllers: Set<String> = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]
}

struct CgroupLayoutTests {
    @Test func hybridFindsTheV1ControllersAndTheUnifiedHierarchy() {
        let l = CgroupLayout(mountinfo: MountinfoFixtures.hybrid, unifiedControllers: [], hasKill: true)
        #expect(l.unified == "/sys/fs/cgroup/unified")
        #expect(l.v1 == ["memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "cpuacct": "/sys/fs/cgroup/cpuacct"])
        #expect(l.name == "hybrid")
        #expect(l.hierarchies == ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpuacct"])
    }

    @Test func pureV2HasOneHierarchy() {
        let l = CgroupLayout(mountinfo: MountinfoFixtures.v2, unifiedControllers: MountinfoFixtures.v2Controllers, hasKill: true)
        #expect(l.unified == "/sys/fs/cgroup" && l.v1.isEmpty && !l.hasV1Controllers)
        #expect(l.name == "cgroup v2")
        #expect(l.hierarchies == ["/sys/fs/cgroup"])
    }

    @Test func v1OnlyReadsControllersFromTheSuperOptions() {
        let l = CgroupLayout(mountinfo: MountinfoFixtures.v1Only, unifiedControllers: ["memory"], hasKill: true)
        #expect(l.unified == nil && l.unifiedControllers.isEmpty, "no cgroup2, so no controllers of it")
        #expect(l.v1 == ["memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct"])
        #expect(l.name == "cgroup v1")
    }

    @Test func readOnlyMountsAndNamedHierarchiesAreNotUsed() {
        let text = """
            41 31 0:38 / /sys/fs/cgroup/unified ro,relatime - cgroup2 cgroup2 rw
            39 31 0:36 / /sys/fs/cgroup/pids ro,relatime - cgroup cgroup rw,pids
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
            """
        let l = CgroupLayout(mountinfo: text, unifiedControllers: [], hasKill: true)
        #expect(l.unified == nil && l.v1.isEmpty)
        #expect(l.hasV1Controllers, "a read-only pids hierarchy is still a v1 controller")
        let named = CgroupLayout(mountinfo: "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd", unifiedControllers: [], hasKill: false)
        #expect(!named.hasV1Controllers && named.name == "no cgroups")
    }

    @Test func mountPointsAreUnescapedAndMalformedLinesSkipped() {
        let text = """
            41 31 0:38 / /mnt/my\\040cgroups rw,relatime shared:3 master:1 - cgroup2 cgroup2 rw
            junk
            1 2 3 4 5 6 7 8 9
            """
        #expect(CgroupLayout(mountinfo: text, unifiedControllers: [], hasKill: false).unified == "/mnt/my cgroups")
        #expect(CgroupLayout.unescape("a\\134b\\011") == "a\\b\t")
        #expect(CgroupLayout.unescape("trailing\\04") == "trailing\\04")
    }

    @Test func cgroupKillNeedsLinux514() {
        #expect(CgroupLayout.releaseHasKill("6.18.44-fc-v1147"))
        #expect(CgroupLayout.releaseHasKill("5.14.0-362.el9"))
        #expect(!CgroupLayout.releaseHasKill("5.13.19"))
        #expect(!CgroupLayout.releaseHasKill("4.19.0-27-amd64"))
        #expect(!CgroupLayout.releaseHasKill("junk"))
    }
}
