#if canImport(Glibc)
import Glibc
#endif
internal import CAirlockShims
import AirlockCore
import Synchronization

/// An open network namespace: owns one descriptor on it (close-on-exec, closed on deinit), which
/// keeps the namespace alive while this object lives.
///
/// Named namespaces are compatible with `ip netns`: a bind mount of the namespace on
/// `/run/netns/NAME`, with `/run/netns` a shared mount point. Work inside the namespace goes
/// through `run` (see `NetworkNamespace+Run.swift`); nothing here changes the calling thread.
public final class NetworkNamespace: Sendable, CustomStringConvertible {
    /// Where named namespaces live (the `ip netns` convention).
    public static let runDirectory = "/run/netns"
    private static let prepareLock = Mutex(())

    /// The name under `runDirectory`, when opened or created by name.
    public let name: String?
    /// The kernel identity of the namespace.
    public let id: NamespaceID
    /// The owned descriptor. Borrowed by callers (for `setns` between fork and exec, or to pass to
    /// another process); valid only while this object lives. Never close it.
    public let descriptor: Int32
    /// How the namespace was found, for error messages and logs.
    let label: String

    private init(descriptor: Int32, name: String?, label: String) throws(NetError) {
        var st = stat()
        if fstat(descriptor, &st) != 0 {
            let e = SyscallError.last("fstat", label)
            close(descriptor)
            throw .system(e)
        }
        self.descriptor = descriptor; self.name = name; self.label = label
        self.id = NamespaceID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    deinit { close(descriptor) }

    public var description: String { "netns \(label) \(id)" }

    // MARK: Opening

    /// Opens a namespace file (nsfs) read-only and close-on-exec.
    private static func openFile(_ path: String, name: String?, label: String) throws(NetError) -> NetworkNamespace {
        var fd: Int32
        repeat { fd = Glibc.open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .system(.last("open", path)) }
        return try NetworkNamespace(descriptor: fd, name: name, label: label)
    }

    /// Takes ownership of `descriptor` (e.g. one a control-socket caller opened on
    /// `/run/netns/NAME` or `/proc/PID/ns/net` and passed over), after checking with
    /// `NS_GET_NSTYPE` that it is a network namespace. Closes it when it is not.
    public static func adopt(descriptor: Int32, label: String) throws(NetError) -> NetworkNamespace {
        let nsGetNSType: UInt = 0xB703  // _IO(0xb7, 0x3), linux/nsfs.h
        let type = ioctl(descriptor, nsGetNSType)
        let cloneNewNet: Int32 = 0x4000_0000  // CLONE_NEWNET, linux/sched.h (not in Swift's Glibc)
        guard type == cloneNewNet else {
            let e = type < 0 ? SyscallError.last("ioctl(NS_GET_NSTYPE)", label) : nil
            close(descriptor)
            throw e.map { .system($0) } ?? .invalidName(label, reason: "not a network namespace")
        }
        return try NetworkNamespace(descriptor: descriptor, name: nil, label: label)
    }

    /// Opens the named namespace `/run/netns/NAME`.
    public static func open(name: String) throws(NetError) -> NetworkNamespace {
        try validate(name: name)
        return try openFile(path(of: name), name: name, label: name)
    }

    /// Opens the network namespace process `pid` is in (`/proc/PID/ns/net`).
    public static func open(pid: Int32) throws(NetError) -> NetworkNamespace {
        guard pid > 0 else { throw .invalidName(String(pid), reason: "not a process id") }
        return try openFile("/proc/\(pid)/ns/net", name: nil, label: "pid \(pid)")
    }

    /// Opens the host namespace: the one PID 1 is in. Fails with EACCES where PID 1 cannot be
    /// inspected (a non-dumpable init, as in some VMs); `isHost` copes with that.
    public static func host() throws(NetError) -> NetworkNamespace {
        try openFile("/proc/1/ns/net", name: nil, label: "host")
    }

    /// Opens the namespace this process started in: its main thread's (`/proc/self/ns/net`),
    /// whatever thread calls.
    public static func ofProcess() throws(NetError) -> NetworkNamespace {
        try openFile("/proc/self/ns/net", name: nil, label: "process")
    }

    /// True when this is a namespace airlock must never treat as an agent's: the host's (same nsfs
    /// device and inode as `/proc/1/ns/net`) or the one this process runs in (`/proc/self/ns/net`;
    /// the relay and launcher run in the host's). When PID 1 cannot be inspected (EACCES, EPERM)
    /// only the second comparison is made; any other failure throws, so callers fail closed.
    public func isHost() throws(NetError) -> Bool {
        if id == (try Self.identity(of: "/proc/self/ns/net")) { return true }
        do {
            return id == (try Self.identity(of: "/proc/1/ns/net"))
        } catch {
            if case .system(let e) = error, e.code == EACCES || e.code == EPERM { return false }
            throw error
        }
    }

    /// The identity of a namespace file, by stat(2).
    static func identity(of path: String) throws(NetError) -> NamespaceID {
        var st = stat()
        guard stat(path, &st) == 0 else { throw .system(.last("stat", path)) }
        return NamespaceID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    // MARK: Creating and deleting named namespaces

    /// Creates a fresh, empty network namespace named `name`, like `ip netns add NAME`, and opens it.
    /// Throws `isExists` if the name is taken; on any failure nothing is left behind.
    public static func create(name: String) throws(NetError) -> NetworkNamespace {
        try validate(name: name)
        // Serialized: two threads making /run/netns a mount point at once would stack two bind
        // mounts (`ip netns` has the same race between processes; we avoid it within ours).
        let err = prepareLock.withLock { _ in airlock_netns_prepare_dir(runDirectory) }
        guard err == 0 else { throw .system(SyscallError(code: err, call: "mount --make-shared", context: runDirectory)) }
        let file = path(of: name)
        var fd: Int32
        repeat { fd = Glibc.open(file, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .system(.last("open", file)) }
        close(fd)
        let bindErr = airlock_netns_bind_new(file)
        guard bindErr == 0 else {
            unlink(file)
            throw .system(SyscallError(code: bindErr, call: "unshare+mount", context: file))
        }
        do {
            return try open(name: name)
        } catch {
            try? delete(name: name)
            throw error
        }
    }

    /// Deletes the named namespace like `ip netns delete NAME`: detaches the bind mount, removes
    /// the file. The kernel frees the namespace itself once no descriptor or process holds it, and
    /// does so asynchronously: to know it is gone, wait for the hub end of its veth to disappear
    /// (`waitUntilLinkGone`). Throws `isNotFound` when there was no such namespace.
    public static func delete(name: String) throws(NetError) {
        try validate(name: name)
        let file = path(of: name)
        let err = airlock_netns_unmount(file)
        // EINVAL: not a mount point (a file left by a crash between create and bind); still unlink.
        if err != 0 && err != EINVAL && err != ENOENT {
            throw .system(SyscallError(code: err, call: "umount2", context: file))
        }
        if unlink(file) != 0 { throw .system(.last("unlink", file)) }
    }

    /// True when `/run/netns/NAME` exists.
    public static func exists(name: String) -> Bool {
        guard (try? validate(name: name)) != nil else { return false }
        return access(path(of: name), F_OK) == 0
    }

    /// Waits (polling every 10 ms, at most `timeoutMilliseconds`) until `/run/netns/NAME` is gone
    /// and no longer appears in this process's mount table.
    public static func waitUntilGone(name: String, timeoutMilliseconds: Int = 2000) throws(NetError) {
        try validate(name: name)
        let file = path(of: name)
        try Poll.until("namespace \(name) gone", timeoutMilliseconds: timeoutMilliseconds) {
            !exists(name: name) && !MountTable.contains(mountPoint: file)
        }
    }

    /// The names under `/run/netns` that start with `prefix`, sorted; empty if the directory is absent.
    public static func list(prefix: String = "") throws(NetError) -> [String] {
        guard let dir = opendir(runDirectory) else {
            if errno == ENOENT { return [] }
            throw .system(.last("opendir", runDirectory))
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let n = withUnsafePointer(to: entry.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if n == "." || n == ".." || !n.hasPrefix(prefix) { continue }
            names.append(n)
        }
        return names.sorted()
    }

    /// Deletes every named namespace whose name starts with `prefix` (stale ones from a crashed
    /// run) and returns the names deleted. An empty prefix is refused: it would take every
    /// `ip netns` namespace on the machine.
    @discardableResult
    public static func sweep(prefix: String) throws(NetError) -> [String] {
        guard !prefix.isEmpty else { throw .invalidName(prefix, reason: "sweep needs a non-empty prefix") }
        var deleted: [String] = []
        var firstError: NetError?
        for name in try list(prefix: prefix) {
            do throws(NetError) { try delete(name: name); deleted.append(name) } catch {
                if !error.isNotFound && firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        return deleted
    }

    /// Whether this process may create network namespaces; nil when it may, else the reason.
    public static func creationProbe() -> SyscallError? {
        let err = airlock_netns_probe()
        return err == 0 ? nil : SyscallError(code: err, call: "unshare(CLONE_NEWNET)", context: "probe")
    }

    // MARK: Names

    static func path(of name: String) -> String { runDirectory + "/" + name }

    /// A namespace name is one path component: non-empty, at most 255 bytes, no `/` or NUL,
    /// not `.` or `..`.
    public static func validate(name: String) throws(NetError) {
        if name.isEmpty { throw .invalidName(name, reason: "empty") }
        if name.utf8.count > 255 { throw .invalidName(name, reason: "longer than 255 bytes") }
        if name == "." || name == ".." { throw .invalidName(name, reason: "not a file name") }
        if name.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == 0 }) {
            throw .invalidName(name, reason: "contains / or NUL")
        }
    }
}
