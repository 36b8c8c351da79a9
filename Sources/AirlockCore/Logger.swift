#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A small structured logger: one line per event, `time level event key=value …`, written with
/// write(2) so lines from several threads never interleave. Keys are stable snake_case
/// (`peer`, `agent`, `stream`, `status`, `reason`) so operators can grep and tests can assert.
public final class Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug = 0, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    public let minimum: Level
    public let fd: Int32
    private let component: String
    /// Extra sinks (tests capture lines here).
    private let sink: Mutex<[@Sendable (String) -> Void]>

    public init(component: String = "airlock", minimum: Level = .info, fd: Int32 = 2) {
        self.component = component; self.minimum = minimum; self.fd = fd; sink = Mutex([])
    }

    /// A logger that writes nothing (for tests and library users that do not care).
    public static let silent = Logger(minimum: .error, fd: -1)

    public func addSink(_ f: @escaping @Sendable (String) -> Void) { sink.withLock { $0.append(f) } }

    public func log(_ level: Level, _ event: String, _ fields: KeyValuePairs<String, CustomStringConvertible> = [:]) {
        let sinks = sink.withLock { $0 }
        guard level >= minimum || !sinks.isEmpty else { return }
        var line = "\(Logger.timestamp()) \(level.name) \(component) \(event)"
        for (k, v) in fields { line += " \(k)=\(Logger.quote(v.description))" }
        line += "\n"
        for s in sinks { s(line) }
        guard level >= minimum, fd >= 0 else { return }
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return }
                off += n
            }
        }
    }

    public func debug(_ e: String, _ f: KeyValuePairs<String, CustomStringConvertible> = [:]) { log(.debug, e, f) }
    public func info(_ e: String, _ f: KeyValuePairs<String, CustomStringConvertible> = [:]) { log(.info, e, f) }
    public func warn(_ e: String, _ f: KeyValuePairs<String, CustomStringConvertible> = [:]) { log(.warn, e, f) }
    public func error(_ e: String, _ f: KeyValuePairs<String, CustomStringConvertible> = [:]) { log(.error, e, f) }

    static func quote(_ s: String) -> String {
        if !s.isEmpty && !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) { return s }
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
