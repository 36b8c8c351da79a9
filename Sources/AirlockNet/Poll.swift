#if canImport(Glibc)
import Glibc
#endif

/// Bounded polling for kernel state that changes asynchronously (link and namespace teardown,
/// design §5): never assume, look again until a deadline.
enum Poll {
    static let intervalMilliseconds = 10

    /// Returns as soon as `condition` holds; throws `timedOut` once `timeoutMilliseconds` have
    /// passed on the monotonic clock without it holding. Errors from `condition` propagate.
    static func until(_ what: String, timeoutMilliseconds: Int,
                      _ condition: () throws(NetError) -> Bool) throws(NetError) {
        let deadline = now() + UInt64(max(0, timeoutMilliseconds)) * 1_000_000
        while true {
            if try condition() { return }
            if now() >= deadline { throw .timedOut(what, milliseconds: timeoutMilliseconds) }
            usleep(useconds_t(intervalMilliseconds * 1000))
        }
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Reads `/proc/self/mountinfo` to tell whether a path is still a mount point.
enum MountTable {
    /// True when `mountPoint` appears as the mount point (field 5) of a line of mountinfo.
    /// A path with spaces appears octal-escaped there; namespace paths have none.
    static func contains(mountPoint: String) -> Bool {
        guard let text = readSmallFile("/proc/self/mountinfo", cap: 4 << 20) else { return false }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5)
            if fields.count > 4 && fields[4] == mountPoint { return true }
        }
        return false
    }
}

/// Reads a whole small file (procfs, sysfs) up to `cap` bytes; nil when it cannot be read.
func readSmallFile(_ path: String, cap: Int) -> String? {
    var fd: Int32
    repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while out.count < cap {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}
