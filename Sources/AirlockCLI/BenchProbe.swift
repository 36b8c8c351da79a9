#if canImport(Glibc)
import Glibc
#endif

/// What `airlock bench` reads from the kernel: CPU time of this thread, of another process, and a
/// process's resident memory. Linux only (`/proc`).
enum BenchProbe {
    /// CPU time of one process, in seconds.
    struct CPU: Sendable {
        /// On-CPU time of all its threads from `/proc/PID/task/*/schedstat` (nanoseconds), or
        /// `user + system` when schedstat is missing.
        var total: Double
        /// `utime` and `stime` from `/proc/PID/stat` (clock ticks, usually 10 ms).
        var user: Double
        var system: Double

        static func - (a: CPU, b: CPU) -> CPU {
            CPU(total: a.total - b.total, user: a.user - b.user, system: a.system - b.system)
        }
    }

    /// CPU time the calling thread used so far (`CLOCK_THREAD_CPUTIME_ID`).
    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Monotonic wall time in seconds.
    static func wallSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// User and system CPU of this whole process (`getrusage(RUSAGE_SELF)`).
    static func selfCPU() -> CPU {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        let user = Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6
        let system = Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
        return CPU(total: user + system, user: user, system: system)
    }

    /// CPU time of process `pid` so far; nil once it is gone.
    static func processCPU(_ pid: pid_t) -> CPU? {
        guard let stat = readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name start at field 3 (state); utime and stime are 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let ut = Double(fields[11]), let st = Double(fields[12]) else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let user = ut / hz, system = st / hz
        return CPU(total: scheduledSeconds(pid) ?? user + system, user: user, system: system)
    }

    /// Sum of the first field of `/proc/PID/task/*/schedstat`: nanoseconds on a CPU.
    private static func scheduledSeconds(_ pid: pid_t) -> Double? {
        guard let dir = opendir("/proc/\(pid)/task") else { return nil }
        defer { closedir(dir) }
        var total: UInt64 = 0
        var found = false
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.first?.isNumber == true, let text = readText("/proc/\(pid)/task/\(name)/schedstat"),
                  let first = text.split(separator: " ").first, let ns = UInt64(first) else { continue }
            total += ns
            found = true
        }
        return found ? Double(total) / 1e9 : nil
    }

    /// `VmRSS` of process `pid` in KiB, from `/proc/PID/status`.
    static func residentKiB(_ pid: pid_t) -> Int? {
        guard let status = readText("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// A small text file whole (files under `/proc` report size 0, so read until EOF).
    static func readText(_ path: String, cap: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < cap {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Online CPUs.
    static var cores: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// The model name from `/proc/cpuinfo`, if it has one.
    static var cpuModel: String {
        guard let info = readText("/proc/cpuinfo") else { return "unknown" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return trimmed(line[line.index(after: colon)...])
            }
        }
        return "unknown"
    }

    /// `s` without leading and trailing blanks and tabs.
    static func trimmed(_ s: Substring) -> String {
        var s = s
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
