#if canImport(Glibc)
import Glibc
#endif

/// The bench's private directory (`$TMPDIR/airlock-bench-XXXXXX`, mode 0700) for the relays'
/// keys, policies, configs and logs; removed with everything in it when the value goes away.
final class BenchTempDir {
    let path: String

    init() throws {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/airlock-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CommandFailure("bench: cannot create a directory under \(base): \(Output.errnoText()); set TMPDIR to a writable directory")
        }
        path = String(cString: made)
    }

    deinit {
        // Flat: the bench writes files only, no subdirectories.
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink("\(path)/\(name)") }
            }
            closedir(dir)
        }
        rmdir(path)
    }
}
