#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The relay's audit trail (Relay/README.md, "Audit log"): one JSON object per line for every
/// decision (reserve, connect, exit request, reload, revocation) and every circuit close, next to
/// the ordinary log lines. Each line has `time`, `event`, `agent`, `peer`, `target`, `decision`
/// and `reason` (null where they do not apply), then the event's own fields.
///
/// Cost: a line is built only for a decision or a close, never per forwarded byte, and written
/// with one write(2) (O_APPEND), so lines from several threads never interleave and a reader
/// sees whole lines. A failed write is dropped (the ordinary log still has the event).
///
/// **Thread:** any; `Sendable`.
public final class AuditLog: Sendable {
    /// A field value. Strings are escaped as RFC 8259 requires.
    public enum Value: Sendable {
        case string(String)
        case int(Int)
        case uint(UInt64)
        case double(Double)
        case bool(Bool)
        case null
    }

    public let fd: Int32
    private let owned: Bool
    /// Extra sinks (tests capture lines here).
    private let sinks = Mutex<[@Sendable (String) -> Void]>([])

    /// Writes to `fd`; `owned` descriptors are closed on deinit.
    public init(fd: Int32, owned: Bool = false) { self.fd = fd; self.owned = owned }

    deinit { if owned && fd > 2 { close(fd) } }

    /// `-` is stderr; any other path is opened for appending (created 0640, close-on-exec).
    /// Returns the reason on failure.
    public static func open(path: String) -> Result<AuditLog, AuditLogError> {
        if path == "-" { return .success(AuditLog(fd: 2)) }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return .failure(AuditLogError(path: path, message: String(cString: strerror(errno)))) }
        return .success(AuditLog(fd: fd, owned: true))
    }

    /// A log that only feeds its sinks (tests).
    public static func capture() -> AuditLog { AuditLog(fd: -1) }

    public func addSink(_ f: @escaping @Sendable (String) -> Void) { sinks.withLock { $0.append(f) } }

    /// Writes one line. `peer` and `target` are peer IDs (or names where there is no peer),
    /// `agent` the policy name of the source.
    public func record(event: String, decision: String?, reason: String?, peer: PeerID? = nil, target: PeerID? = nil,
                       agent: String? = nil, fields: [(String, Value)] = []) {
        record(event: event, decision: decision, reason: reason, peer: peer?.description, target: target?.description,
               agent: agent, fields: fields)
    }

    public func record(event: String, decision: String?, reason: String?, peer: String?, target: String?,
                       agent: String?, fields: [(String, Value)] = []) {
        func opt(_ s: String?) -> Value { s.map { .string($0) } ?? .null }
        var line = "{"
        let head: [(String, Value)] = [("time", .string(Logger.timestamp())), ("event", .string(event)), ("agent", opt(agent)),
                                       ("peer", opt(peer)), ("target", opt(target)), ("decision", opt(decision)), ("reason", opt(reason))]
        for (i, (k, v)) in (head + fields).enumerated() {
            if i > 0 { line += "," }
            line += AuditLog.quote(k) + ":" + AuditLog.encode(v)
        }
        line += "}\n"
        for s in sinks.withLock({ $0 }) { s(line) }
        guard fd >= 0 else { return }
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

    static func encode(_ v: Value) -> String {
        switch v {
        case .string(let s): return quote(s)
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .double(let d): return d.isFinite ? String(d) : "null"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    static func quote(_ s: String) -> String { JSONString.quote(s) }
}

/// The audit log could not be opened.
public struct AuditLogError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "cannot open the audit log \(path): \(message)" }
}

/// JSON string literals, for the writers of every module (the audit log, the policy's canonical
/// form, the bench report).
public enum JSONString {
    /// `s` as a JSON string literal: `"` and `\` escaped, control characters and DEL as `\u00XX`
    /// (so a terminal never receives them raw).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
