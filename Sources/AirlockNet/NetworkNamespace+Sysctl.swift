#if canImport(Glibc)
import Glibc
#endif
internal import CAirlockShims

/// Sysctls are `/proc/sys/net` files, which show the namespace of the thread that opens them, so
/// every access here happens on a namespace thread (`runNet`).
extension NetworkNamespace {
    /// Reads `/proc/sys/net/KEY` inside this namespace (KEY like `ipv4/ip_forward`), trimmed.
    public func readSysctl(_ key: String) throws(NetError) -> String {
        let path = try Self.sysctlPath(key)
        return try runNet { () throws(NetError) -> String in try Self.read(path) }
    }

    /// Writes `value` to `/proc/sys/net/KEY` inside this namespace.
    public func writeSysctl(_ key: String, _ value: String) throws(NetError) {
        let path = try Self.sysctlPath(key)
        try runNet { () throws(NetError) in try Self.write(path, value) }
    }

    /// Locks routing down inside this namespace and fails closed: every write is read back and any
    /// failure or mismatch throws.
    ///
    /// - `ipv4/ip_forward=0`, and for `all`, `default` and each interface: `forwarding=0` and
    ///   `rp_filter=1` (strict). Set explicitly: some kernels start new namespaces from the host's
    ///   values (design §5).
    /// - IPv6 off: `disable_ipv6=1` for `all`, `default` and each interface. When the kernel has no
    ///   IPv6 at all (`/proc/sys/net/ipv6` absent) there is nothing to disable.
    ///
    /// `interfaces` nil means every interface now in the namespace (including `lo`). Call it once
    /// before creating links, so `default` covers them from birth, and again after.
    public func harden(interfaces: [String]? = nil) throws(NetError) {
        if let interfaces { for i in interfaces { try LinkInfo.validate(name: i) } }
        try runNet { () throws(NetError) in
            let names: [String]
            if let interfaces { names = interfaces } else {
                let sock = try NetlinkSocket(context: label)
                names = try sock.links().map(\.name)
            }
            var settings: [(String, String)] = [("ipv4/ip_forward", "0")]
            for conf in ["all", "default"] + names {
                settings.append(("ipv4/conf/\(conf)/forwarding", "0"))
                settings.append(("ipv4/conf/\(conf)/rp_filter", "1"))
            }
            if Self.exists("/proc/sys/net/ipv6") {
                for conf in ["all", "default"] + names { settings.append(("ipv6/conf/\(conf)/disable_ipv6", "1")) }
            }
            for (key, value) in settings {
                let path = "/proc/sys/net/" + key
                try Self.write(path, value)
                let back = try Self.read(path)
                guard back == value else {
                    throw .system(SyscallError(code: SyscallError.EINVAL, call: "sysctl readback",
                                               context: "\(path)=\(back), wanted \(value) in \(label)"))
                }
            }
        }
    }

    // MARK: Files

    /// `/proc/sys/net/KEY` for a key made of plain components (no `..`, no empty parts).
    static func sysctlPath(_ key: String) throws(NetError) -> String {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
              key.utf8.count <= 200, !key.utf8.contains(0) else {
            throw .invalidName(key, reason: "not a net sysctl key")
        }
        return "/proc/sys/net/" + key
    }

    private static func read(_ path: String) throws(NetError) -> String {
        guard let text = readSmallFile(path, cap: 4096) else { throw .system(.last("read", path)) }
        return String(text.filter { $0 != "\n" && $0 != " " && $0 != "\t" })
    }

    private static func write(_ path: String, _ value: String) throws(NetError) {
        let err = airlock_sysctl_write(path, value)
        if err != 0 { throw .system(SyscallError(code: err, call: "write", context: "\(path)=\(value)")) }
    }

    private static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
