#if canImport(Glibc)
import Glibc
#endif

/// The bench's private directory (`$TMPDIR/airlock-bench-XXXXXX`) for the relays' keys,
/// policies, configs and logs, and the agents' working directory; removed with everything in
/// it when the value goes away (or by `BenchCleanup` on SIGINT).
///
/// Mode 0711: other users cannot list it, but an agent (run as `airlock-agent`) can reach the
/// world-readable `agent` directory inside, its working directory. Keys stay 0600.
final class BenchTempDir {
    let path: String

    init() throws {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/airlock-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CommandFailure("bench: cannot create a directory under \(base): \(Output.errnoText()); set TMPDIR to a writable directory")
        }
        path = String(cString: made)
        chmod(path, 0o711)
        BenchCleanup.shared.add(directory: path)
    }

    deinit { BenchTempDir.remove(path) }

    /// A subdirectory, created with `mode`.
    func subdirectory(_ name: String, mode: mode_t = 0o755) throws -> String {
        let p = "\(path)/\(name)"
        guard mkdir(p, mode) == 0 || errno == EEXIST else { throw CommandFailure("bench: cannot create \(p): \(Output.errnoText())") }
        chmod(p, mode)
        return p
    }

    /// Removes `path` and everything below it (files and directories only; the bench makes
    /// nothing else, and a socket or fifo is unlinked like a file).
    static func remove(_ path: String) {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name != "." && name != ".." else { continue }
                let child = "\(path)/\(name)"
                var st = stat()
                if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { remove(child) } else { unlink(child) }
            }
            closedir(dir)
        }
        rmdir(path)
    }
}
