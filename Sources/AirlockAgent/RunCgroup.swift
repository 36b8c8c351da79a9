#if canImport(Glibc)
import Glibc
#endif
import AirlockIO

/// A step on a cgroup file or directory that failed, with the call's error.
public struct CgroupError: Error, Sendable, CustomStringConvertible {
    public let step: String
    public let code: Errno
    public init(_ step: String, _ code: Errno) { self.step = step; self.code = code }
    public var description: String { "\(step): \(code)" }
}

/// One run's cgroup: the directory `<hierarchy>/airlock-<prefix>/<name>` in each hierarchy its
/// `CgroupPlan` names, with the limits written, and the descriptors the spawn hands the init
/// (its `cgroup.procs` files to join, `cgroup.kill`, the counters to watch).
///
/// Ownership: the spawn descriptors are owned here until `closeSpawnDescriptors` (after the
/// spawn; the init holds its own copies) or deinit. The directories stay until `remove` succeeds;
/// `airlock-<prefix>` is shared by the relay's runs and removed by `removeParents`.
///
/// **Thread:** the relay's loop (or a test's thread); not Sendable.
public final class RunCgroup {
    public let plan: CgroupPlan
    /// The run's directory in each of `plan.hierarchies`, in that order.
    public let leaves: [String]
    public private(set) var joinDescriptors: [Int32] = []
    public private(set) var killDescriptor: Int32 = -1
    public private(set) var watches: [LimitWatch] = []
    private var removed: Set<String> = []

    /// The directory the relay with hub prefix `prefix` keeps its runs' cgroups in.
    public static func parentName(prefix: String) -> String { "airlock-\(prefix)" }

    init(plan: CgroupPlan, leaves: [String]) { self.plan = plan; self.leaves = leaves }

    deinit { closeSpawnDescriptors() }

    /// Makes the run's cgroup: each parent (enabling the plan's v2 controllers in it), the leaf
    /// (replacing an empty leftover of the same name), the limit files, and the descriptors. On
    /// failure nothing made here is left.
    public static func create(_ plan: CgroupPlan, prefix: String, name: String) throws(CgroupError) -> RunCgroup {
        let parent = parentName(prefix: prefix)
        let cg = RunCgroup(plan: plan, leaves: plan.hierarchies.map { "\($0)/\(parent)/\(name)" })
        var made: [String] = []
        do throws(CgroupError) {
            for (h, leaf) in zip(plan.hierarchies, cg.leaves) {
                if h == plan.unified { for c in plan.controllers { try enable(c, in: h) } }
                try makeDirectory("\(h)/\(parent)")
                if h == plan.unified { for c in plan.controllers { try enable(c, in: "\(h)/\(parent)") } }
                if mkdir(leaf, 0o755) != 0 {
                    guard errno == EEXIST else { throw CgroupError("mkdir \(leaf)", .current) }
                    // An empty one is a crashed relay's; a busy one belongs to a run still alive.
                    guard rmdir(leaf) == 0 else { throw CgroupError("\(leaf) exists and is in use", .current) }
                    guard mkdir(leaf, 0o755) == 0 else { throw CgroupError("mkdir \(leaf)", .current) }
                }
                made.append(leaf)
            }
            for w in plan.writes {
                let path = "\(cg.leaf(in: w.hierarchy))/\(w.file)"
                if w.ifPresent && access(path, F_OK) != 0 { continue }
                try write(w.value, to: path)
            }
            for leaf in cg.leaves { cg.joinDescriptors.append(try open("\(leaf)/cgroup.procs", O_WRONLY)) }
            if let k = plan.kill { cg.killDescriptor = try open("\(cg.leaf(in: k))/cgroup.kill", O_WRONLY) }
            for w in plan.watches {
                let fd = try open("\(cg.leaf(in: w.hierarchy))/\(w.file)", O_RDONLY)
                cg.watches.append(LimitWatch(descriptor: fd, key: w.key, bound: w.bound, reason: w.reason))
            }
        } catch {
            cg.closeSpawnDescriptors()
            for leaf in made.reversed() { rmdir(leaf) }
            cg.removed = Set(cg.leaves)
            throw error
        }
        return cg
    }

    /// The cgroup a run made under an earlier relay (`reattach`): its leaves that still exist,
    /// for `kill` and `remove`; no limits or watches are known. nil when it has none.
    public static func adopt(_ layout: CgroupLayout, prefix: String, name: String) -> RunCgroup? {
        var plan = CgroupPlan()
        for h in layout.hierarchies where access("\(h)/\(parentName(prefix: prefix))/\(name)", F_OK) == 0 { plan.use(h) }
        guard plan.needsCgroup else { return nil }
        if let u = layout.unified, plan.hierarchies.contains(u) {
            plan.unified = u
            if access("\(u)/\(parentName(prefix: prefix))/\(name)/cgroup.kill", F_OK) == 0 { plan.kill = u }
        }
        return RunCgroup(plan: plan, leaves: plan.hierarchies.map { "\($0)/\(parentName(prefix: prefix))/\(name)" })
    }

    /// Whether a leaf named `name` exists in any hierarchy (a run that outlived its relay may
    /// still own it).
    public static func exists(_ layout: CgroupLayout, prefix: String, name: String) -> Bool {
        layout.hierarchies.contains { access("\($0)/\(parentName(prefix: prefix))/\(name)", F_OK) == 0 }
    }

    /// Whether process `pid` is in this cgroup (`/proc/PID/cgroup` names one of its leaves).
    public func holds(pid: Int32) -> Bool {
        guard let text = CgroupLayout.readSmallFile("/proc/\(pid)/cgroup") else { return false }
        let tails = Set(leaves.map { "/" + $0.split(separator: "/").suffix(2).joined(separator: "/") })
        return text.split(separator: "\n").contains { line in
            guard let colon = line.lastIndex(of: ":") else { return false }
            let path = line[line.index(after: colon)...]
            return tails.contains { path.hasSuffix($0) }
        }
    }

    func leaf(in hierarchy: String) -> String {
        leaves[plan.hierarchies.firstIndex(of: hierarchy)!]  // every plan entry names one of its hierarchies
    }

    /// Fills the spawn spec's cgroup fields (the descriptors stay borrowed from here).
    public func apply(to spec: inout ProcessSpec) {
        spec.cgroupJoin = joinDescriptors
        spec.killDescriptor = killDescriptor >= 0 ? killDescriptor : nil
        spec.watches = watches
        spec.timeoutMilliseconds = plan.timeoutMilliseconds
    }

    /// Closes what the spawn borrowed; the init holds its own copies.
    public func closeSpawnDescriptors() {
        for fd in joinDescriptors + watches.map(\.descriptor) + [killDescriptor] where fd >= 0 { close(fd) }
        joinDescriptors = []
        watches = []
        killDescriptor = -1
    }

    /// Kills every process in the cgroup (`cgroup.kill`); false when the plan has none or the
    /// write failed.
    @discardableResult
    public func kill() -> Bool {
        guard let k = plan.kill, !removed.contains(leaf(in: k)) else { return false }
        do { try Self.write("1", to: "\(leaf(in: k))/cgroup.kill"); return true } catch { return false }
    }

    /// The limit whose counter reached its bound, if any (the init's check, made again after
    /// the fact, to say why a tree was killed).
    public func reachedLimit() -> LimitWatch.Reason? {
        for w in plan.watches {
            guard let text = CgroupLayout.readSmallFile("\(leaf(in: w.hierarchy))/\(w.file)"),
                  let v = CgroupPlan.counter(text, key: w.key) else { continue }
            if v >= w.bound { return w.reason }
        }
        return nil
    }

    /// Removes the leaves that are left; returns those still there (rmdir says EBUSY while the
    /// last processes die: try again shortly).
    @discardableResult
    public func remove() -> [String] {
        closeSpawnDescriptors()
        for leaf in leaves where !removed.contains(leaf) {
            if rmdir(leaf) == 0 || errno == ENOENT { removed.insert(leaf) }
        }
        return leaves.filter { !removed.contains($0) }
    }

    public var isRemoved: Bool { leaves.allSatisfy { removed.contains($0) } }

    // MARK: the relay's directory

    /// What a crashed relay with `prefix` left: each empty leaf is removed, each busy one (a
    /// run that outlived the relay and may reattach) is kept.
    public static func sweep(_ layout: CgroupLayout, prefix: String) -> (removed: [String], kept: [String]) {
        var removed: [String] = [], kept: [String] = []
        for h in layout.hierarchies {
            let dir = "\(h)/\(parentName(prefix: prefix))"
            for name in subdirectories(dir) {
                if rmdir("\(dir)/\(name)") == 0 { removed.append("\(dir)/\(name)") } else { kept.append("\(dir)/\(name)") }
            }
        }
        return (removed, kept)
    }

    /// Removes `airlock-<prefix>` where it is empty (a stopping relay; kept where a suspended
    /// run still has its cgroup).
    public static func removeParents(_ layout: CgroupLayout, prefix: String) {
        for h in layout.hierarchies { rmdir("\(h)/\(parentName(prefix: prefix))") }
    }

    /// The names of the directories in `dir`, sorted; none when it cannot be read.
    public static func subdirectories(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let n = withUnsafePointer(to: entry.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) { String(cString: $0) }
            }
            if n != "." && n != ".." { names.append(n) }
        }
        return names.sorted()
    }

    // MARK: files

    private static func makeDirectory(_ path: String) throws(CgroupError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw CgroupError("mkdir \(path)", .current) }
    }

    /// `+controller` into `dir`'s `cgroup.subtree_control`, unless it is on already.
    private static func enable(_ controller: String, in dir: String) throws(CgroupError) {
        let path = "\(dir)/cgroup.subtree_control"
        if let on = CgroupLayout.readSmallFile(path), on.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains(Substring(controller)) { return }
        try write("+\(controller)", to: path)
    }

    private static func open(_ path: String, _ flags: Int32) throws(CgroupError) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw CgroupError("open \(path)", .current) }
        return fd
    }

    static func write(_ value: String, to path: String) throws(CgroupError) {
        let fd = try open(path, O_WRONLY)
        defer { close(fd) }
        let bytes = Array(value.utf8)
        var n: Int
        repeat { n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } } while n < 0 && errno == EINTR
        guard n == bytes.count else { throw CgroupError("write \(value) to \(path)", n < 0 ? .current : Errno(rawValue: EIO)) }
    }
}
