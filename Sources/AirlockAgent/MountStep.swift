internal import CAirlockShims

/// One step of building the sandbox's mount namespace (`airlock_mount_op`): the init runs the
/// steps in order, as root, in a fresh mount namespace whose mounts are private.
public struct MountStep: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Int32, Sendable {
        case tmpfs = 1, proc, devpts, bind, readOnly, writable, mkdir, file, symlink, mknod, sysfs
    }
    public struct Flags: OptionSet, Sendable, Equatable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let nosuid = Flags(rawValue: AIRLOCK_MOUNT_NOSUID)
        public static let nodev = Flags(rawValue: AIRLOCK_MOUNT_NODEV)
        public static let noexec = Flags(rawValue: AIRLOCK_MOUNT_NOEXEC)
        public static let readOnly = Flags(rawValue: AIRLOCK_MOUNT_RDONLY)
    }

    public var kind: Kind
    public var target: String
    public var source: String?
    /// BIND from this O_PATH descriptor (borrowed) instead of `source`.
    public var sourceDescriptor: Int32?
    public var data: String?
    public var mode: UInt32 = 0
    public var flags: Flags = []
    public var device: UInt = 0

    public init(_ kind: Kind, _ target: String, source: String? = nil, sourceDescriptor: Int32? = nil,
                data: String? = nil, mode: UInt32 = 0, flags: Flags = [], device: UInt = 0) {
        self.kind = kind; self.target = target; self.source = source; self.sourceDescriptor = sourceDescriptor
        self.data = data; self.mode = mode; self.flags = flags; self.device = device
    }

    public var description: String {
        switch kind {
        case .tmpfs: return "tmpfs on \(target)"
        case .proc: return "proc on \(target)"
        case .sysfs: return "sysfs on \(target)"
        case .devpts: return "devpts on \(target)"
        case .bind: return "bind \(source ?? sourceDescriptor.map { "descriptor \($0)" } ?? "?") on \(target)"
        case .readOnly: return "read-only \(target)"
        case .writable: return "writable \(target)"
        case .mkdir: return "mkdir \(target)"
        case .file: return "write \(target)"
        case .symlink: return "symlink \(target) -> \(source ?? "?")"
        case .mknod: return "mknod \(target)"
        }
    }
}

/// A cgroup bound the init watches (`airlock_limit_watch`).
public struct LimitWatch: Sendable, Equatable {
    public enum Reason: Int32, Sendable, CustomStringConvertible {
        case timeout = 1, pids, memory, cpu
        public var description: String {
            switch self {
            case .timeout: return "--timeout"
            case .pids: return "--pids"
            case .memory: return "--memory"
            case .cpu: return "--cpu"
            }
        }
    }
    /// Read from offset 0 each time (borrowed).
    public var descriptor: Int32
    /// The number after this key on a "key value" line; nil: the file is one number.
    public var key: String?
    /// Reached (>=) means the bound is hit.
    public var bound: UInt64
    public var reason: Reason
    public init(descriptor: Int32, key: String?, bound: UInt64, reason: Reason) {
        self.descriptor = descriptor; self.key = key; self.bound = bound; self.reason = reason
    }
}

extension MountStep {
    /// An O_PATH, close-on-exec descriptor on `path` (following symlinks), to hand to the relay
    /// as a `--rw`/`--ro` path; -1 with errno.
    public static func openPath(_ path: String) -> Int32 { airlock_open_exec_path(path) }
}
