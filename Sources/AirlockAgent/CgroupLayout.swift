#if canImport(Glibc)
import Glibc
#endif

/// Which cgroup hierarchies this machine has, as `/proc/self/mountinfo` shows them, and so which
/// run limits it can enforce (`plan`).
///
/// Three layouts are supported: **cgroup v2** (`/sys/fs/cgroup` is cgroup2; memory and pids are
/// controllers of it), **hybrid** (v1 controllers at `/sys/fs/cgroup/{memory,pids,cpuacct,…}`
/// beside a controller-less cgroup2 at `/sys/fs/cgroup/unified`, which still has `cgroup.kill`
/// and `cpu.stat`), and **v1 only** (no `cgroup.kill`: the tree is then killed through its PID
/// namespace alone). A controller lives in exactly one hierarchy, so each limit has at most one
/// place to go; a v1 hierarchy is preferred where both could serve (cpuacct over `cpu.stat`).
///
/// A value type built from text, so each layout can be tested from a fixture; `current()` reads
/// this machine.
public struct CgroupLayout: Sendable, Equatable {
    /// The cgroup2 mount point (writable), if any.
    public var unified: String?
    /// The controllers the cgroup2 root offers (its `cgroup.controllers`).
    public var unifiedControllers: Set<String>
    /// The kernel has `cgroup.kill` (Linux 5.14); it exists in every non-root v2 cgroup.
    public var hasKill: Bool
    /// The (writable) mount point of each v1 controller airlock uses: `memory`, `pids`, `cpuacct`.
    public var v1: [String: String]
    /// Some v1 hierarchy with a controller is mounted (hybrid rather than pure v2, even when
    /// none of airlock's three is among them).
    public var hasV1Controllers: Bool

    /// The v1 controllers airlock uses.
    public static let v1Controllers = ["memory", "pids", "cpuacct"]
    /// Every v1 controller (cgroups(7)); the other super options (`rw`, `xattr`, `name=…`,
    /// `release_agent=…`) are not controllers.
    static let knownV1Controllers: Set<String> = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                                                  "blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"]

    public init(unified: String? = nil, unifiedControllers: Set<String> = [], hasKill: Bool = false,
                v1: [String: String] = [:], hasV1Controllers: Bool? = nil) {
        self.unified = unified; self.unifiedControllers = unifiedControllers; self.hasKill = hasKill
        self.v1 = v1; self.hasV1Controllers = hasV1Controllers ?? !v1.isEmpty
    }

    /// The layout `mountinfo` (the text of `/proc/self/mountinfo`) describes: the first cgroup2
    /// mount, and the first mount of each v1 controller (by its super options). Read-only
    /// mounts are left out: nothing can be created there.
    public init(mountinfo: String, unifiedControllers: Set<String>, hasKill: Bool) {
        var unified: String?
        var v1: [String: String] = [:]
        var anyV1 = false
        for line in mountinfo.split(separator: "\n") {
            guard let m = Self.mount(line) else { continue }
            if m.type == "cgroup2" {
                if unified == nil && !m.readOnly { unified = m.point }
            } else if m.type == "cgroup" {
                let controllers = m.superOptions.filter(Self.knownV1Controllers.contains)
                if !controllers.isEmpty { anyV1 = true }
                guard !m.readOnly else { continue }
                for c in Self.v1Controllers where controllers.contains(c) && v1[c] == nil { v1[c] = m.point }
            }
        }
        self.init(unified: unified, unifiedControllers: unified == nil ? [] : unifiedControllers, hasKill: hasKill,
                  v1: v1, hasV1Controllers: anyV1)
    }

    /// This machine's layout, from `/proc/self/mountinfo`, the cgroup2 root's
    /// `cgroup.controllers` and the kernel version.
    public static func current() -> CgroupLayout {
        let text = Self.readSmallFile("/proc/self/mountinfo") ?? ""
        var layout = CgroupLayout(mountinfo: text, unifiedControllers: [], hasKill: Self.kernelHasKill())
        if let u = layout.unified {
            let controllers = Self.readSmallFile(u + "/cgroup.controllers") ?? ""
            layout.unifiedControllers = Set(controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        }
        return layout
    }

    /// What to call this layout in messages.
    public var name: String {
        switch (unified != nil, hasV1Controllers) {
        case (true, true): return "hybrid"
        case (true, false): return "cgroup v2"
        case (false, true): return "cgroup v1"
        case (false, false): return "no cgroups"
        }
    }

    /// Every hierarchy a run's cgroup may have a directory in (the v2 one first): what a sweep
    /// looks through.
    public var hierarchies: [String] {
        var out: [String] = []
        for h in [unified].compactMap({ $0 }) + Self.v1Controllers.compactMap({ v1[$0] }) where !out.contains(h) { out.append(h) }
        return out
    }

    // MARK: mountinfo

    struct Mount { var point: String; var readOnly: Bool; var type: String; var superOptions: [String] }

    /// One mountinfo line (proc(5)): `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE
    /// SOURCE SUPER`; nil when malformed.
    static func mount(_ line: Substring) -> Mount? {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count >= 10, let dash = f.firstIndex(of: "-"), dash >= 6, dash + 3 < f.count else { return nil }
        let options = f[5].split(separator: ",")
        return Mount(point: unescape(f[4]), readOnly: options.contains("ro"), type: String(f[dash + 1]),
                     superOptions: f[dash + 3].split(separator: ",").map(String.init))
    }

    /// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
    static func unescape(_ s: Substring) -> String {
        guard s.contains("\\") else { return String(s) }
        var bytes: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count,
               let v = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(v)
                i += 4
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: the machine

    /// Linux 5.14 or later (where `cgroup.kill` appeared), from uname.
    static func kernelHasKill() -> Bool {
        var u = utsname()
        guard uname(&u) == 0 else { return false }
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return Self.releaseHasKill(release)
    }

    /// "6.18.44-fc" → true, "5.10.0" → false.
    static func releaseHasKill(_ release: String) -> Bool {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2 else { return false }
        return parts[0] > 5 || (parts[0] == 5 && parts[1] >= 14)
    }

    /// At most 64 KiB of a (proc or cgroup) file, or nil.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        while out.count < 65536 {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
