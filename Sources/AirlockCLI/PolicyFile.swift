#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy

/// Edits of the policy file for `airlock allow` and `deny`: read, change and write back under an
/// exclusive `flock` on the file, so concurrent edits never lose one; written atomically (a
/// temporary file in the same directory, fsync, rename, fsync of the directory) with the old
/// mode and owner, so the relay and readers see the old file or the new one, never a part.
///
/// The lock is on the policy file itself. A writer replaces the file by rename, so a waiter
/// may wake holding the lock of a file that is no longer at the path; it then compares the
/// inode it locked with the one at the path and starts again on the new file.
enum PolicyFile {
    /// Applies `change` to the policy at `path` (symlinks followed) and writes the result when
    /// it returns a policy different from the current one. Returns the policy now in the file
    /// and whether it changed. Nothing is written when the current file or the edited policy
    /// does not validate: the error lists every problem.
    static func edit(_ path: String, _ change: (Policy) throws(CommandFailure) -> Policy) throws(CommandFailure) -> (policy: Policy, changed: Bool) {
        guard let real = realpath(path, nil) else { throw CommandFailure("cannot open the policy \(path): \(Output.errnoText()); give its path with --policy FILE or $\(PolicyCommand.environmentVariable)") }
        let target = String(cString: real)
        free(real)
        let (fd, st) = try lock(target, shown: path)
        defer { close(fd) }  // releases the lock, after the rename
        let bytes = try readAll(fd, path)
        let current: Policy
        do { current = try Policy.parse(bytes: bytes, file: path) } catch {
            throw CommandFailure("\(error)\nthe policy \(path) does not validate now; fix it first (airlock policy validate \(path)); nothing was changed")
        }
        let edited = try change(current)
        guard edited != current else { return (current, false) }
        let text = edited.canonicalJSON()
        do { _ = try Policy.parse(text: text, file: path) } catch {
            let lines = error.problems.map { "\(path): after this edit, \($0.path.isEmpty ? "" : $0.path + ": ")\($0.message)" }
            throw CommandFailure(lines.joined(separator: "\n") + "\nrefusing to write a policy that does not validate; \(path) is unchanged")
        }
        try replace(target, shown: path, with: Array(text.utf8), like: st)
        return (edited, true)
    }

    /// Opens `path` and takes an exclusive lock on the file that is at the path once it is held.
    private static func lock(_ path: String, shown: String) throws(CommandFailure) -> (Int32, stat) {
        while true {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CommandFailure("cannot open the policy \(shown): \(Output.errnoText())") }
            var r: Int32
            repeat { r = flock(fd, LOCK_EX) } while r != 0 && errno == EINTR
            guard r == 0 else {
                let why = Output.errnoText()
                close(fd)
                throw CommandFailure("cannot lock the policy \(shown): \(why)")
            }
            var held = stat(), now = stat()
            guard fstat(fd, &held) == 0 else { close(fd); throw CommandFailure("cannot stat the policy \(shown): \(Output.errnoText())") }
            if stat(path, &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev { return (fd, held) }
            close(fd)  // replaced while we waited: lock the new file
        }
    }

    private static func readAll(_ fd: Int32, _ shown: String) throws(CommandFailure) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw CommandFailure("cannot read the policy \(shown): \(Output.errnoText())") }
            if n == 0 { return out }
            out += chunk[..<n]
            if out.count > Policy.maxFileSize { return out }  // parse refuses it with the size
        }
    }

    /// Writes `bytes` to a new file next to `path` with `like`'s mode and owner, fsyncs it,
    /// renames it over `path` and fsyncs the directory. On failure the temporary file is removed
    /// and `path` is untouched.
    static func replace(_ path: String, shown: String, with bytes: [UInt8], like st: stat) throws(CommandFailure) {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let tmp = "\(dir)/.\(base).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let mode = mode_t(st.st_mode & 0o7777)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CommandFailure("cannot create a temporary file in \(dir) to write \(shown): \(Output.errnoText())") }
        func fail(_ what: String) -> CommandFailure {
            let why = Output.errnoText()
            close(fd)
            unlink(tmp)
            return CommandFailure("cannot write \(shown): \(what): \(why); it is unchanged")
        }
        guard fchmod(fd, mode) == 0 else { throw fail("fchmod") }
        // Not root, fchown fails unless the file is already ours with our group, which the new
        // file has anyway; otherwise the edit would change who owns the policy: refuse.
        if fchown(fd, st.st_uid, st.st_gid) != 0 && !(st.st_uid == geteuid() && st.st_gid == getegid()) {
            throw fail("cannot keep its owner \(st.st_uid):\(st.st_gid) (run as root, or as its owner in its group)")
        }
        guard Output.writeAll(fd, bytes) else { throw fail("write") }
        guard fsync(fd) == 0 else { throw fail("fsync") }
        guard close(fd) == 0 else { unlink(tmp); throw CommandFailure("cannot write \(shown): close: \(Output.errnoText()); it is unchanged") }
        guard rename(tmp, path) == 0 else {
            let why = Output.errnoText()
            unlink(tmp)
            throw CommandFailure("cannot replace \(shown): rename: \(why); it is unchanged")
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}

extension PolicyFile {
    /// `p` with `rules` instead of its own, checked as a file would be. Problems name `shown`
    /// and the field, as the edit would have written it.
    static func with(_ p: Policy, rules: [Policy.Rule], shown: String) throws(CommandFailure) -> Policy {
        do {
            return try Policy.validated(version: p.version, agents: p.agents, services: p.services, exits: p.exits,
                                        peers: p.peers, rules: rules, file: shown)
        } catch {
            let lines = error.problems.map { "\(shown): after this edit, \($0.path.isEmpty ? "" : $0.path + ": ")\($0.message)" }
            throw CommandFailure(lines.joined(separator: "\n") + "\nrefusing to write a policy that does not validate; \(shown) is unchanged")
        }
    }
}
