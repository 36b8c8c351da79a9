/// How one run's limits are enforced on a given `CgroupLayout`: which hierarchies the run's
/// cgroup is made in, what is written there, what the init watches, and how the tree is killed.
/// Made by `CgroupLayout.plan`, carried out by `RunCgroup.create`. Paths are mount points and
/// file names; the run's own directory is decided at creation.
public struct CgroupPlan: Sendable, Equatable {
    /// A limit file set in the run's cgroup before anything joins it.
    public struct Write: Sendable, Equatable {
        public var hierarchy: String
        public var file: String
        public var value: String
        /// Skipped when the file does not exist (`memory.memsw.*` without swap accounting,
        /// `memory.swap.max` without swap).
        public var ifPresent = false
    }

    /// A counter the init reads every 100 ms (`LimitWatch`), by file name in the run's cgroup.
    public struct Watch: Sendable, Equatable {
        public var hierarchy: String
        public var file: String
        public var key: String?
        public var bound: UInt64
        public var reason: LimitWatch.Reason
    }

    /// Mount points the run gets a cgroup in, in order (the v2 one first when it is used).
    public var hierarchies: [String] = []
    /// The v2 hierarchy when the run uses it (for `cgroup.kill`, `cpu.stat` or controllers).
    public var unified: String?
    /// v2 controllers to enable in the parents' `cgroup.subtree_control` (pure v2 only).
    public var controllers: [String] = []
    public var writes: [Write] = []
    public var watches: [Watch] = []
    /// The hierarchy whose `cgroup.kill` kills the tree; nil: the init's `kill(-1)` and the PID
    /// namespace do it alone.
    public var kill: String?
    /// `--timeout` for the init, in milliseconds.
    public var timeoutMilliseconds: Int64?
    /// Each limit in force and by what: `pids 64 (v1 pids)`, `timeout 30 s`.
    public var limits: [String] = []

    public init() {}

    /// What is in force and by what, for the log: `pids 64 (v1 pids), memory 256 MiB (v1
    /// memory), timeout 30 s, kill cgroup.kill (v2)`.
    public var description: String {
        (limits + [kill != nil ? "kill cgroup.kill (v2)" : "kill through the PID namespace"]).joined(separator: ", ")
    }

    /// Whether there is a cgroup to create.
    public var needsCgroup: Bool { !hierarchies.isEmpty }

    /// Only the kill switch: no limit needs the cgroup, and the PID namespace kills the tree
    /// without it.
    public var isOnlyKillSwitch: Bool { writes.isEmpty && watches.isEmpty }

    /// This plan without its cgroup (for a run whose kill-switch cgroup could not be made).
    public func withoutCgroup() -> CgroupPlan {
        var p = self
        p.hierarchies = []; p.unified = nil; p.kill = nil; p.controllers = []
        return p
    }

    mutating func use(_ hierarchy: String) {
        if !hierarchies.contains(hierarchy) { hierarchies.append(hierarchy) }
    }

    /// The number after `key` at the start of a line of `text` (or its first number when `key`
    /// is nil): what the init's `airlock_read_counter` reads. nil when there is none.
    public static func counter(_ text: String, key: String?) -> UInt64? {
        var rest = Substring(text)
        if let key {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + " ") || $0.hasPrefix(key + "\t") }) else { return nil }
            rest = line.dropFirst(key.count)
        }
        let digits = rest.drop { $0 == " " || $0 == "\t" }.prefix { $0.isASCII && $0.isNumber }
        return UInt64(digits)
    }
}

extension CgroupLayout {
    /// How `limits` are enforced here. Every run gets a v2 cgroup when the kernel has
    /// `cgroup.kill`, limits or not, so the relay can kill the whole tree at once.
    ///
    /// Throws, naming the option and what is missing, when a limit cannot be enforced: it is
    /// never silently left out.
    public func plan(_ limits: RunLimits) throws(LimitError) -> CgroupPlan {
        var p = CgroupPlan()
        if let u = unified, hasKill { p.use(u); p.kill = u }

        if let n = limits.pids {
            let option = limits.option(.pids)
            if let h = v1["pids"] {
                p.use(h)
                p.writes.append(.init(hierarchy: h, file: "pids.max", value: "\(n)"))
                p.watches.append(.init(hierarchy: h, file: "pids.events", key: "max", bound: 1, reason: .pids))
                p.limits.append("pids \(n) (v1 pids)")
            } else if let u = unified, unifiedControllers.contains("pids") {
                p.use(u)
                p.controllers.append("pids")
                p.writes.append(.init(hierarchy: u, file: "pids.max", value: "\(n)"))
                p.watches.append(.init(hierarchy: u, file: "pids.events", key: "max", bound: 1, reason: .pids))
                p.limits.append("pids \(n) (v2 pids)")
            } else {
                throw LimitError("\(option): this machine cannot enforce it: \(missing("pids"))")
            }
        }
        if let bytes = limits.memory {
            let option = limits.option(.memory)
            let text = RunLimits.sizeText(bytes)
            if let h = v1["memory"] {
                p.use(h)
                // The plain limit first: the kernel refuses a memsw limit below it.
                p.writes.append(.init(hierarchy: h, file: "memory.limit_in_bytes", value: "\(bytes)"))
                // The same for memory+swap, so swapping out cannot dodge the limit.
                p.writes.append(.init(hierarchy: h, file: "memory.memsw.limit_in_bytes", value: "\(bytes)", ifPresent: true))
                // v1 charges TCP socket buffers only once this has a limit (v2 always does):
                // without it a run's unread sockets hold memory the limit never sees.
                p.writes.append(.init(hierarchy: h, file: "memory.kmem.tcp.limit_in_bytes", value: "\(bytes)", ifPresent: true))
                p.watches.append(.init(hierarchy: h, file: "memory.oom_control", key: "oom_kill", bound: 1, reason: .memory))
                p.limits.append("memory \(text) (v1 memory)")
            } else if let u = unified, unifiedControllers.contains("memory") {
                p.use(u)
                p.controllers.append("memory")
                p.writes.append(.init(hierarchy: u, file: "memory.max", value: "\(bytes)"))
                p.writes.append(.init(hierarchy: u, file: "memory.swap.max", value: "0", ifPresent: true))
                p.watches.append(.init(hierarchy: u, file: "memory.events", key: "oom_kill", bound: 1, reason: .memory))
                p.limits.append("memory \(text) (v2 memory)")
            } else {
                throw LimitError("\(option): this machine cannot enforce it: \(missing("memory"))")
            }
        }
        if let seconds = limits.cpu {
            let option = limits.option(.cpu)
            let text = RunLimits.secondsText(seconds)
            if let h = v1["cpuacct"] {
                p.use(h)
                p.watches.append(.init(hierarchy: h, file: "cpuacct.usage", key: nil, bound: UInt64(seconds * 1e9), reason: .cpu))
                p.limits.append("cpu \(text) (v1 cpuacct)")
            } else if let u = unified {
                // cpu.stat's usage_usec is kept in every v2 cgroup, with or without the cpu controller.
                p.use(u)
                p.watches.append(.init(hierarchy: u, file: "cpu.stat", key: "usage_usec", bound: UInt64(seconds * 1e6), reason: .cpu))
                p.limits.append("cpu \(text) (v2 cpu.stat)")
            } else {
                throw LimitError("\(option): this machine cannot enforce it: no cpuacct controller (no writable v1 cpuacct hierarchy, and no cgroup v2 hierarchy for cpu.stat)")
            }
        }
        if let t = limits.timeout {
            p.timeoutMilliseconds = Int64((t * 1000).rounded(.up))
            p.limits.append("timeout \(RunLimits.secondsText(t))")
        }
        if let n = limits.killOnDeny { p.limits.append("kill-on-deny \(n)") }
        p.unified = unified.flatMap { p.hierarchies.contains($0) ? $0 : nil }
        return p
    }

    /// Why `controller` has nowhere to go.
    private func missing(_ controller: String) -> String {
        let v2 = unified.map { "\($0)/cgroup.controllers lacks \(controller)" } ?? "there is no writable cgroup v2 hierarchy"
        return "no \(controller) controller (no writable v1 \(controller) hierarchy is mounted, and \(v2))"
    }

    /// The mechanism for each of `--memory`, `--pids`, `--cpu` here, or nil.
    private func mechanism(_ controller: String) -> (v1: Bool, name: String)? {
        if v1[controller] != nil { return (true, controller) }
        if controller == "cpuacct" { return unified != nil ? (false, "cpu.stat") : nil }
        return unified != nil && unifiedControllers.contains(controller) ? (false, controller) : nil
    }

    /// One line for `airlock run --help`: which limit options this machine enforces and by what,
    /// e.g. `on this machine: --memory, --pids, --cpu (hybrid: v1 memory, pids, cpuacct; v2
    /// cgroup.kill)`.
    public var onThisMachine: String {
        let options = [("--memory", "memory"), ("--pids", "pids"), ("--cpu", "cpuacct")]
        let found = options.compactMap { o in mechanism(o.1).map { (o.0, $0) } }
        let kill = unified != nil && hasKill
        guard !found.isEmpty || kill else {
            return "on this machine: none of --memory, --pids, --cpu (\(name): no writable cgroup hierarchy); --timeout and --kill-on-deny work"
        }
        let v1Names = found.filter { $0.1.v1 }.map(\.1.name)
        let v2Names = found.filter { !$0.1.v1 }.map(\.1.name) + (kill ? ["cgroup.kill"] : [])
        var how: [String] = []
        if unified != nil && !hasV1Controllers {
            how.append(v2Names.joined(separator: ", "))
        } else {
            if !v1Names.isEmpty { how.append((unified != nil ? "v1 " : "") + v1Names.joined(separator: ", ")) }
            if !v2Names.isEmpty { how.append("v2 " + v2Names.joined(separator: ", ")) }
            if !kill { how.append("no cgroup.kill") }
        }
        var line = "on this machine: " + (found.isEmpty ? "no limit options" : found.map(\.0).joined(separator: ", "))
        line += " (\(name): \(how.joined(separator: "; ")))"
        let absent = options.filter { o in !found.contains { $0.0 == o.0 } }.map(\.0)
        if !absent.isEmpty { line += "; not \(absent.joined(separator: ", ")): no controller for it" }
        return line
    }
}
