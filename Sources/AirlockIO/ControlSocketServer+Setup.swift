#if canImport(Glibc)
import Glibc
#endif

// Preparing the filesystem for a root-owned control socket. The directory is the real access
// control (the socket's own mode is advisory on some systems), so it must belong to us and let
// no one but the group in; a stale socket is replaced, a live one never.
extension ControlServer {
    /// Permission bits the socket directory may have: rwx for the owner, r-x for the group.
    static let directoryMode: UInt32 = 0o750

    // File type bits of st_mode (the S_IF* macros are not imported by Swift's Glibc).
    private static let typeMask: UInt32 = 0o170000
    private static let typeDirectory: UInt32 = 0o040000
    private static let typeSocket: UInt32 = 0o140000

    /// Creates `dir` (0750, owned by us and `group`) if missing, then checks that it is a real
    /// directory owned by us and `group` (our group when nil) with no permission beyond 0750.
    static func prepareDirectory(_ dir: String, group: UInt32?) throws(ControlSocketError) {
        let owner = geteuid()
        let wantGroup = group ?? getegid()
        if mkdir(dir, directoryMode) == 0 {
            // mkdir's mode is filtered by the umask; and a fresh directory takes our group.
            if chmod(dir, directoryMode) != 0 { throw .system(.current, context: "chmod \(dir)") }
            if chown(dir, owner, wantGroup) != 0 { throw .system(.current, context: "chown \(dir)") }
        } else if errno != EEXIST {
            throw .system(.current, context: "mkdir \(dir)")
        }
        // Checked even when we just made it: someone may have raced us to the name.
        var st = stat()
        if lstat(dir, &st) != 0 { throw .system(.current, context: "lstat \(dir)") }
        let fix = "chown \(owner):\(wantGroup) \(dir) && chmod 0750 \(dir)"
        guard st.st_mode & typeMask == typeDirectory else {
            throw .unsafeDirectory(path: dir, problem: "is not a directory (or is a symbolic link)",
                                   fix: "rm \(dir)")
        }
        guard st.st_uid == owner, st.st_gid == wantGroup else {
            throw .unsafeDirectory(path: dir, problem: "is owned by \(st.st_uid):\(st.st_gid), not \(owner):\(wantGroup)", fix: fix)
        }
        let loose = st.st_mode & 0o777 & ~directoryMode
        guard loose == 0 else {
            throw .unsafeDirectory(path: dir, problem: "has mode 0\(String(st.st_mode & 0o7777, radix: 8)), looser than 0750", fix: fix)
        }
    }

    /// Removes a socket file at `path` that no one is listening on. Leaves anything else alone:
    /// a live socket (`alreadyListening`) or a file that is not a socket (`notASocket`).
    static func removeStaleSocket(_ path: String) throws(ControlSocketError) {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw .system(.current, context: "lstat \(path)")
        }
        guard st.st_mode & typeMask == typeSocket else { throw .notASocket(path: path) }
        let probe: ControlSocket
        do { probe = try ControlSocket.make(nonBlocking: true) } catch {
            throw .system(error, context: "socket")
        }
        defer { probe.close() }
        let listening: Bool
        do throws(Errno) {
            try probe.connect(path: path)
            listening = true
        } catch {
            switch error {
            case .ECONNREFUSED:
                listening = false  // a leftover of a relay that died: safe to replace
            case .EAGAIN, Errno(rawValue: EPROTOTYPE):
                listening = true   // a full backlog, or a listener of another socket type
            default:
                throw .system(error, context: "probing \(path)")
            }
        }
        if listening { throw .alreadyListening(path: path) }
        if unlink(path) != 0 && errno != ENOENT { throw .system(.current, context: "unlink \(path)") }
    }

    /// The device and inode of the socket file, to recognise it as ours when closing.
    static func identity(of path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// The directory part of an absolute path (`/run/airlock/control.sock` → `/run/airlock`).
    static func parentDirectory(of path: String) -> String? {
        guard path.hasPrefix("/"), let slash = path.lastIndex(of: "/") else { return nil }
        let dir = String(path[..<slash])
        let name = path[path.index(after: slash)...]
        guard !name.isEmpty, name != ".", name != ".." else { return nil }
        return dir.isEmpty ? "/" : dir
    }
}
