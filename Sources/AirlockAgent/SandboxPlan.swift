#if canImport(Glibc)
import Glibc
#endif

/// The agent's view of the filesystem (issue 5, design §2): what the init builds in the run's
/// mount namespace, as `MountStep`s in order.
///
/// - every mount of the host, read-only;
/// - the working directory and `--rw` paths writable (bound from descriptors the caller opened,
///   so the caller's own access decided), `--ro` paths read-only even under a writable one;
/// - private tmpfs on /tmp, /var/tmp, /dev/shm; /run empty (no host socket: D-Bus, systemd,
///   docker, nscd, resolved, the relay's control socket);
/// - a /proc of the agent's PID namespace; a /dev of null, zero, full, random, urandom, tty and
///   a devpts of its own;
/// - /etc/resolv.conf naming the shim's stub on 127.0.0.1, which refuses every query.
///
/// Paths under /proc, /sys, /dev and /run may not be granted (a socket there would be reachable
/// even read-only: connect(2) ignores read-only mounts), nor `/` writable.
public struct SandboxPlan: Sendable, Equatable {
    /// A path granted to the agent: where it is, the descriptor to bind it from, and whether it
    /// is a directory (a file target is created as a file).
    public struct Grant: Sendable, Equatable {
        public var path: String
        public var descriptor: Int32
        public var writable: Bool
        public var isDirectory: Bool
        public init(path: String, descriptor: Int32, writable: Bool, isDirectory: Bool) {
            self.path = path; self.descriptor = descriptor; self.writable = writable; self.isDirectory = isDirectory
        }
    }

    public private(set) var steps: [MountStep] = []
    /// The command's working directory inside.
    public let workingDirectory: String

    /// Where the run's own pty appears inside.
    public static let terminalPath = "/dev/airlock-tty"
    /// Directories that are fresh tmpfs inside: a grant below one needs its path made first.
    static let fresh = ["/tmp", "/var/tmp", "/run", "/dev"]
    /// Where nothing may be granted.
    static let forbidden = ["/proc", "/sys", "/dev", "/run"]
    /// What no grant may be or contain: binding it, or a directory above it, would bring the
    /// host's one back (its sockets: tmux, X11, the user's bus), read-only or not.
    static let covered = fresh + forbidden + ["/dev/shm"]
    static let resolvConf = """
        # airlock: names are resolved by the relay's exits, never here; this stub refuses every query.
        nameserver 127.0.0.1
        options timeout:1 attempts:1

        """

    /// - Parameters:
    ///   - workdir: the working directory (writable), as a grant.
    ///   - grants: `--rw` and `--ro` paths, in any order.
    ///   - resolvConfPath: where /etc/resolv.conf really is (symlinks resolved), nil when absent.
    ///   - terminal: the run's pty (its stdin) when it has one: bound at `terminalPath`, so that
    ///     `ttyname` (which looks in /dev) finds it although its devpts is not the sandbox's.
    public init(workdir: Grant, grants: [Grant], resolvConfPath: String?, terminal: Int32? = nil) throws(SandboxError) {
        workingDirectory = workdir.path
        var all = [workdir] + grants
        for g in all { try Self.check(g) }
        for (i, g) in all.enumerated() {
            if let j = all[..<i].firstIndex(where: { $0.path == g.path }), all[j].writable != g.writable {
                throw SandboxError("\(g.path) is given both writable and read-only")
            }
        }
        // Parents before children, so a --ro inside the working directory lands on top of it.
        all = all.enumerated().sorted { a, b in
            let (da, db) = (Self.depth(a.element.path), Self.depth(b.element.path))
            return da != db ? da < db : a.offset < b.offset
        }.map(\.element)

        steps.append(MountStep(.readOnly, "/"))
        devices()
        if let terminal {
            steps.append(MountStep(.file, Self.terminalPath, mode: 0o600))
            steps.append(MountStep(.bind, Self.terminalPath, sourceDescriptor: terminal))
        }
        steps.append(MountStep(.proc, "/proc", flags: [.nosuid, .nodev, .noexec]))
        steps.append(MountStep(.tmpfs, "/tmp", data: "mode=1777", flags: [.nosuid, .nodev]))
        if Self.isDirectory("/var/tmp") { steps.append(MountStep(.tmpfs, "/var/tmp", data: "mode=1777", flags: [.nosuid, .nodev])) }
        steps.append(MountStep(.tmpfs, "/run", data: "mode=0755", flags: [.nosuid, .nodev]))
        // The agent's own network namespace, not the host's interfaces.
        steps.append(MountStep(.sysfs, "/sys", flags: [.nosuid, .nodev, .noexec, .readOnly]))
        for (i, g) in all.enumerated() {
            // Below a grant bound before, the path is the real one: nothing to make.
            if !all[..<i].contains(where: { Self.isWithin(g.path, $0.path) }) { makePath(to: g.path, file: !g.isDirectory) }
            steps.append(MountStep(.bind, g.path, sourceDescriptor: g.descriptor))
            steps.append(MountStep(g.writable ? .writable : .readOnly, g.path))
        }
        // Last, so that no grant (of /etc, say) covers it.
        resolver(at: resolvConfPath)
    }

    private mutating func devices() {
        steps.append(MountStep(.tmpfs, "/dev", data: "mode=0755,size=64k", flags: [.nosuid, .noexec]))
        for (name, major, minor): (String, UInt, UInt) in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)] {
            steps.append(MountStep(.mknod, "/dev/" + name, mode: 0o666, device: Self.makedev(major, minor)))
        }
        steps.append(MountStep(.mkdir, "/dev/pts", mode: 0o755))
        steps.append(MountStep(.devpts, "/dev/pts", data: "newinstance,ptmxmode=0666,mode=0620", flags: [.nosuid, .noexec]))
        steps.append(MountStep(.symlink, "/dev/ptmx", source: "pts/ptmx"))
        steps.append(MountStep(.mkdir, "/dev/shm", mode: 0o755))
        steps.append(MountStep(.tmpfs, "/dev/shm", data: "mode=1777", flags: [.nosuid, .nodev]))
        for (name, target) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")] {
            steps.append(MountStep(.symlink, "/dev/" + name, source: target))
        }
    }

    /// The stub's resolv.conf, in /run (root's, read-only to the agent) and bound where
    /// /etc/resolv.conf points; written in place when that is in /run itself (systemd-resolved).
    private mutating func resolver(at path: String?) {
        steps.append(MountStep(.mkdir, "/run/airlock", mode: 0o755))
        steps.append(MountStep(.file, "/run/airlock/resolv.conf", data: Self.resolvConf, mode: 0o644))
        guard let path, path.hasPrefix("/") else { return }
        if Self.fresh.contains(where: { Self.isWithin(path, $0) }) {
            makePath(to: path, file: true)
            steps.append(MountStep(.file, path, data: Self.resolvConf, mode: 0o644))
        } else {
            steps.append(MountStep(.bind, path, source: "/run/airlock/resolv.conf"))
        }
    }

    /// Directories (and, for a file, the empty file) leading to `path` below a fresh tmpfs.
    private mutating func makePath(to path: String, file: Bool) {
        guard let root = Self.fresh.first(where: { Self.isWithin(path, $0) }), path != root else { return }
        let parts = path.dropFirst(root.count + 1).split(separator: "/")
        var at = root
        for (i, p) in parts.enumerated() {
            at += "/" + p
            if file && i == parts.count - 1 {
                steps.append(MountStep(.file, at, mode: 0o644))  // no data: made if missing, never truncated
            } else {
                steps.append(MountStep(.mkdir, at, mode: 0o755))
            }
        }
    }

    static func check(_ g: Grant) throws(SandboxError) {
        let what = g.writable ? "writable" : "read-only"
        guard g.path.hasPrefix("/"), !g.path.hasSuffix(" (deleted)") else {
            throw SandboxError("\(g.path) cannot be given \(what): it is not a path in the relay's view (deleted, or in another mount namespace)")
        }
        if let f = forbidden.first(where: { isWithin(g.path, $0) }) {
            throw SandboxError("\(g.path) cannot be given \(what): nothing under \(f) is (host sockets and devices live there)")
        }
        if let c = covered.first(where: { isWithin($0, g.path) }) {
            let hint = g.path == "/tmp" || g.path == "/var/tmp" ? " (the sandbox has a private one; run from a directory of your own or give --workdir)" : ""
            throw SandboxError("\(g.path) cannot be given \(what): it would bring back the host's \(c), where other programs' sockets live\(hint)")
        }
    }

    /// glibc's makedev encoding.
    static func makedev(_ major: UInt, _ minor: UInt) -> UInt {
        ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
    }

    static func isWithin(_ path: String, _ dir: String) -> Bool { dir == "/" || path == dir || path.hasPrefix(dir + "/") }
    static func depth(_ path: String) -> Int { path.split(separator: "/").count }
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// A grant for a descriptor the caller sent: its path as the relay sees it (the
    /// descriptor's link in /proc) and its type.
    public static func grant(descriptor fd: Int32, writable: Bool) throws(SandboxError) -> Grant {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buf, Int(PATH_MAX))
        guard n > 0 else { throw SandboxError("cannot tell the path of descriptor \(fd): \(String(cString: strerror(errno)))") }
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SandboxError("\(path): \(String(cString: strerror(errno)))") }
        let type = st.st_mode & S_IFMT
        guard type == S_IFDIR || type == S_IFREG else {
            throw SandboxError("\(path) cannot be given to the agent: only directories and regular files can")
        }
        return Grant(path: path, descriptor: fd, writable: writable, isDirectory: type == S_IFDIR)
    }

    /// Where /etc/resolv.conf leads (it is often a symlink into /run), or nil when it is absent.
    public static func resolvConfTarget() -> String? {
        guard let p = realpath("/etc/resolv.conf", nil) else {
            // A dangling symlink (resolved not running): its target, if absolute.
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink("/etc/resolv.conf", &buf, Int(PATH_MAX))
            guard n > 0, buf[0] == 0x2f else { return nil }
            return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        defer { free(p) }
        return String(cString: p)
    }
}

/// A sandbox that cannot be built as asked.
public struct SandboxError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
