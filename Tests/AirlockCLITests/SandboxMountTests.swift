#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The sandbox's filesystem (issue 5): from inside `airlock run`, as the agent user, the host's
/// files are read-only except the working directory and --rw paths, /tmp and /var/tmp are
/// private, no host Unix socket under /run or /tmp is in sight (the user's bus, a tmux server),
/// /proc shows only the agent's processes, /dev only the safe nodes, and resolv.conf names the stub.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct SandboxMountTests {
    static var agent: (uid: UInt32, gid: UInt32) {
        let pw = getpwnam("airlock-agent")!
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    /// A directory owned by the agent user, outside /tmp and wherever the checkout is (so the
    /// sandbox's private /tmp does not decide the outcome), removed at the end.
    final class AgentTree {
        let path: String
        init(_ name: String) throws {
            path = "/var/lib/airlock-sandbox-test-" + name
            try? FileManager.default.removeItem(atPath: path)
            try make("")
        }
        func file(_ p: String) -> String { path + (p.isEmpty ? "" : "/" + p) }
        func make(_ p: String) throws {
            try FileManager.default.createDirectory(atPath: file(p), withIntermediateDirectories: true)
            var at = path
            for part in ([""] + p.split(separator: "/").map(String.init)) {
                if !part.isEmpty { at += "/" + part }
                chown(at, SandboxMountTests.agent.uid, SandboxMountTests.agent.gid)
                chmod(at, 0o755)
            }
        }
        func write(_ p: String, _ text: String) throws {
            try text.write(toFile: file(p), atomically: false, encoding: .utf8)
            chown(file(p), SandboxMountTests.agent.uid, SandboxMountTests.agent.gid)
        }
        func exists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: file(p)) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func onlyTheWorkingDirectoryAndGrantedPathsAreWritable() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let home = try AgentTree(rig.prefix)
        try home.make("work/keep")
        try home.make("extra")
        try home.write(".profile", "# the user's\n")
        let privateName = "airlock-sandbox-\(rig.prefix)"
        let r = try await EscapeTests.probe(rig, [
            ("cwd", ["kind": "cwd"]),
            ("in the working directory", ["kind": "write", "path": home.file("work/new")]),
            ("in the home, outside it", ["kind": "write", "path": home.file("outside")]),
            ("the shell's startup file", ["kind": "write", "path": home.file(".profile"), "append": true]),
            ("a --rw path", ["kind": "write", "path": home.file("extra/x")]),
            ("a --ro path inside the working directory", ["kind": "write", "path": home.file("work/keep/x")]),
            ("private /tmp", ["kind": "write", "path": "/tmp/" + privateName]),
            ("private /var/tmp", ["kind": "write", "path": "/var/tmp/" + privateName]),
            ("the rig's directory", ["kind": "write", "path": rig.dir.file(privateName)]),
        ], runArgs: ["--workdir", home.file("work"), "--rw", home.file("extra"), "--ro", home.file("work/keep")])
        #expect(r["cwd"] == home.file("work"))
        #expect(r["in the working directory"] == "ok")
        #expect(r["in the home, outside it"] == "EROFS")
        #expect(r["the shell's startup file"] == "EROFS")
        #expect(r["a --rw path"] == "ok")
        #expect(r["a --ro path inside the working directory"] == "EROFS")
        #expect(r["private /tmp"] == "ok" && r["private /var/tmp"] == "ok")
        // /tmp inside is a fresh tmpfs: the rig's directory (under the host's /tmp) is not there.
        #expect(r["the rig's directory"] == "ENOENT")
        #expect(home.exists("work/new") && home.exists("extra/x"))
        #expect(!home.exists("outside") && !home.exists("work/keep/x"))
        #expect(try String(contentsOfFile: home.file(".profile"), encoding: .utf8) == "# the user's\n")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/" + privateName))
        #expect(!FileManager.default.fileExists(atPath: "/var/tmp/" + privateName))
    }

    /// A grant is no more than the caller has: a read-only mount below the working directory
    /// stays read-only inside, though the working directory is writable.
    @Test func aReadOnlyMountInsideAGrantStaysReadOnly() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let home = try AgentTree(rig.prefix)
        try home.make("work/data")
        try home.make("shared")
        try home.write("shared/f", "host\n")
        try IPTool.run("mount", "--bind", home.file("shared"), home.file("work/data"))
        defer { _ = try? IPTool.run("umount", home.file("work/data")) }
        try IPTool.run("mount", "-o", "remount,bind,ro", home.file("work/data"))
        let r = try await EscapeTests.probe(rig, [
            ("in the read-only mount", ["kind": "write", "path": home.file("work/data/f"), "append": true]),
            ("beside it", ["kind": "write", "path": home.file("work/new")]),
        ], runArgs: ["--workdir", home.file("work"), "--rw", home.file("work/data")])
        #expect(r["in the read-only mount"] == "EROFS", "\(r)")
        #expect(r["beside it"] == "ok")
        #expect(try String(contentsOfFile: home.file("shared/f"), encoding: .utf8) == "host\n")
    }

    /// `--ro` of a symbolic link is refused (the agent could replace the link), and relative
    /// grants are taken from `--workdir`.
    @Test func roOfASymlinkIsRefusedAndRelativeGrantsFollowTheWorkdir() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let home = try AgentTree(rig.prefix)
        try home.make("work/.git/hooks")
        try home.make("elsewhere/.git")
        try home.make("repo")
        try home.make("realgit")
        #expect(symlink(home.file("realgit"), home.file("repo/.git")) == 0)
        let link = try await rig.run(["--workdir", home.file("repo"), "--ro", ".git", "--", "true"])
        #expect(link.status == 1, "\(link.stderr)")
        #expect(link.stderr.contains("--ro \(home.file("repo/.git")) is a symbolic link (to \(home.file("realgit")))"), "\(link.stderr)")
        // From elsewhere, `--ro .git` means the working directory's .git, not the caller's.
        let r = try await EscapeTests.probe(rig, [
            ("the working directory's .git", ["kind": "write", "path": home.file("work/.git/hooks/pre-commit")]),
        ], runArgs: ["--workdir", home.file("work"), "--ro", ".git"], wrapper: "cd \(home.file("elsewhere"))")
        #expect(r["the working directory's .git"] == "EROFS", "\(r)")
        #expect(!home.exists("work/.git/hooks/pre-commit"))
    }

    /// SysV IPC is per IPC namespace: the agent sees none of the host's segments and queues,
    /// and what it makes goes with its run.
    @Test func sysvIPCIsTheRunsOwn() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let made = try IPTool.run("ipcmk", "-M", "4096", "-p", "0666")
        let hostID = try #require(made.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        defer { _ = try? IPTool.run("ipcrm", "-m", hostID) }
        let before = try IPTool.run("ipcs", "-m", "-q")
        let r = try await rig.run(["--", "sh", "-c", "ipcs -m -q; ipcmk -M 4096 >/dev/null && ipcmk -Q >/dev/null && echo made"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains(" \(hostID) "), "the host's segment \(hostID) is in sight: \(r.stdout)")
        #expect(r.stdout.hasSuffix("made"), "\(r.stdout)")
        // Nothing the agent made is left on the host.
        #expect(try IPTool.run("ipcs", "-m", "-q") == before)
    }

    /// Starts that fail for a reason of the sandbox say what to do.
    @Test func failedStartsSayWhy() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let home = try AgentTree(rig.prefix)
        try home.make("closed")
        chmod(home.file("closed"), 0o700)
        chown(home.file("closed"), 0, 0)
        let closed = try await rig.run(["--workdir", home.file("closed"), "--", "true"])
        #expect(closed.status == 1 && closed.stderr.contains("who may not enter \(home.file("closed")); give --workdir a directory"), "\(closed.stderr)")
        let script = try rig.dir.write("probe.sh", "#!/bin/sh\necho hi\n", mode: 0o755)
        let inTmp = try await rig.run(["--workdir", home.path, "--", script])
        #expect(inTmp.status == 1 && inTmp.stderr.contains("the sandbox has a private /tmp and /var/tmp"), "\(inTmp.stderr)")
    }

    @Test func aWorkingDirectoryUnderTmpIsThereAndWritable() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        // A directory of the agent user's in the rig's directory, under the host's /tmp.
        let work = URL(fileURLWithPath: rig.dir.file("work")).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        chown(work, Self.agent.uid, Self.agent.gid)
        let r = try await EscapeTests.probe(rig, [
            ("cwd", ["kind": "cwd"]),
            ("write here", ["kind": "write", "path": work + "/made-inside"]),
            ("what /tmp holds", ["kind": "listdir", "path": "/tmp"]),
        ], runArgs: ["--workdir", work])
        #expect(r["cwd"] == work)
        #expect(r["write here"] == "ok")
        #expect(FileManager.default.fileExists(atPath: work + "/made-inside"))
        #expect(r["what /tmp holds"] == String(work.dropFirst("/tmp/".count).split(separator: "/")[0]),
                "only the way to the working directory: \(r["what /tmp holds"] ?? "")")
    }

    @Test func pathsThatWouldExposeHostSocketsOrDevicesAreRefused() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        for (flag, path, why) in [("--rw", "/run", "nothing under /run is"), ("--ro", "/run/user", "nothing under /run is"),
                                  ("--ro", "/proc/1", "nothing under /proc is"), ("--rw", "/dev", "nothing under /dev is"),
                                  ("--rw", "/", "it would bring back the host's /tmp"), ("--ro", "/", "it would bring back the host's /tmp"),
                                  ("--rw", "/tmp", "the sandbox has a private one"), ("--workdir", "/var/tmp", "the sandbox has a private one")] {
            let r = try await rig.run([flag, path, "--", "true"])
            #expect(r.status == 1 && r.stderr.contains(why), "\(flag) \(path): \(r.status) \(r.stderr)")
        }
        let missing = try await rig.run(["--ro", "/nonexistent-\(rig.prefix)", "--", "true"])
        #expect(missing.status == 1 && missing.stderr.contains("--ro /nonexistent-\(rig.prefix): No such file or directory"), "\(missing.stderr)")
        #expect(try rig.namespaces() == [rig.hubName], "nothing was built for the refused runs")
    }

    @Test func noHostUnixSocketIsInSight() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let (uid, gid) = Self.agent
        // Listeners the agent user could reach on the host: one in /run, one in /tmp, and the
        // user's bus where systemd-run --user looks for it.
        let runSocket = "/run/airlock-sandbox-\(rig.prefix).sock"
        let tmpDir = "/tmp/airlock-sandbox-\(rig.prefix)"
        let runtimeDir = "/run/user/\(uid)"
        let madeRuntimeDir = !FileManager.default.fileExists(atPath: runtimeDir)
        try FileManager.default.createDirectory(atPath: tmpDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: runtimeDir, withIntermediateDirectories: true)
        chown(runtimeDir, uid, gid); chmod(runtimeDir, 0o700)
        chmod(tmpDir, 0o777)
        let listeners = try [runSocket, tmpDir + "/s", runtimeDir + "/bus"].map { try UnixListener($0, owner: (uid, gid)) }
        defer {
            unlink(runSocket)
            try? FileManager.default.removeItem(atPath: tmpDir)
            if madeRuntimeDir { try? FileManager.default.removeItem(atPath: runtimeDir) } else { unlink(runtimeDir + "/bus") }
        }
        // A real tmux server of the agent user, on its default socket in /tmp.
        let tmux = ["/usr/bin/setpriv", "--reuid", "\(uid)", "--regid", "\(gid)", "--clear-groups", "/usr/bin/env",
                    "-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "TMUX_TMPDIR=/tmp", "/usr/bin/tmux"]
        // Its server daemonizes with every descriptor it inherits: our pipes go elsewhere, and the
        // rest are closed, above all the socket through which Foundation's Process learns that the
        // client exited (a server holding it would keep IPTool.run waiting until it ends).
        let detached = "for f in /proc/$$/fd/*; do n=${f##*/}; [ \"$n\" -gt 2 ] && eval \"exec $n>&-\"; done; "
            + "exec \"$@\" </dev/null >/dev/null 2>&1"
        _ = try IPTool.run(["/bin/bash", "-c", detached, "bash"] + tmux + ["new-session", "-d", "-s", "airlock-\(rig.prefix)", "sleep 600"])
        defer { _ = try? IPTool.run(tmux + ["kill-server"]) }
        let marker = "/tmp/airlock-sandbox-\(rig.prefix)-pwned"
        // The working directory elsewhere: the rig's own directory holds its control socket.
        let home = try AgentTree(rig.prefix)

        let r = try await EscapeTests.probe(rig, [
            ("what /run holds", ["kind": "listdir", "path": "/run"]),
            ("a socket in /run", ["kind": "unix", "path": runSocket]),
            ("a socket in /tmp", ["kind": "unix", "path": tmpDir + "/s"]),
            ("the user's bus", ["kind": "unix", "path": runtimeDir + "/bus"]),
            ("systemd-run --user", ["kind": "command", "argv": ["systemd-run", "--user", "--no-block", "touch", marker]]),
            ("the tmux socket", ["kind": "unix", "path": "/tmp/tmux-\(uid)/default"]),
            ("tmux new-window", ["kind": "command", "argv": ["tmux", "new-window", "-d", "touch " + marker]]),
            ("the relay's control socket", ["kind": "unix", "type": "SOCK_SEQPACKET", "path": rig.control]),
        ], runArgs: ["--workdir", home.path], environment: ["XDG_RUNTIME_DIR": runtimeDir, "TMUX_TMPDIR": "/tmp"])
        #expect(r["what /run holds"] == "airlock", "only the sandbox's own resolv.conf directory")
        #expect(r["a socket in /run"] == "ENOENT")
        #expect(r["a socket in /tmp"] == "ENOENT")
        #expect(r["the user's bus"] == "ENOENT")
        #expect(r["systemd-run --user"] != "ok", "\(r["systemd-run --user"] ?? "")")
        #expect(r["the tmux socket"] == "ENOENT")
        #expect(r["tmux new-window"] != "ok" && r["tmux new-window"]?.contains("/tmp/tmux-\(uid)/default") == true, "\(r["tmux new-window"] ?? "")")
        #expect(r["the relay's control socket"] == "ENOENT")
        // And on the host: no connection arrived, tmux still has its one window, nothing ran.
        for l in listeners { #expect(l.pendingConnections() == 0, "\(l.path) was reached") }
        let windows = try IPTool.run(tmux + ["list-windows", "-t", "airlock-\(rig.prefix)"])
        #expect(windows.split(separator: "\n").count == 1, "\(windows)")
        try await Task.sleep(for: .milliseconds(200))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func procShowsOnlyTheAgentsOwnProcesses() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let (uid, gid) = Self.agent
        // A process of the same user outside the sandbox, with memory worth reading.
        let victim = try ChildProcess("/usr/bin/setpriv", ["--reuid", "\(uid)", "--regid", "\(gid)", "--clear-groups", "/bin/sleep", "600"],
                                      name: "victim")
        defer { victim.kill() }
        let pid = Int(victim.pid)
        let r = try await EscapeTests.probe(rig, [
            ("pids in /proc", ["kind": "listdir", "path": "/proc", "numeric": true]),
            ("the init", ["kind": "text", "path": "/proc/1/comm"]),
            ("the init's command line", ["kind": "text", "path": "/proc/1/cmdline"]),
            ("the victim's memory", ["kind": "read", "path": "/proc/\(pid)/mem"]),
            ("the victim's environment", ["kind": "read", "path": "/proc/\(pid)/environ"]),
            ("process_vm_readv", ["kind": "vm_read", "pid": pid]),
            ("a signal", ["kind": "signal0", "pid": pid]),
        ])
        let pids = (r["pids in /proc"] ?? "").split(separator: ",").compactMap { Int($0) }
        #expect(!pids.isEmpty && pids.allSatisfy { $0 < 100 } && pids.contains(1) && !pids.contains(pid), "\(r["pids in /proc"] ?? "")")
        #expect(r["the init"] == "airlock-init\n")
        #expect(r["the init's command line"]?.split(separator: "\u{0}") == ["airlock-init"], "not the relay's, with its key's path: \(r["the init's command line"] ?? "")")
        #expect(r["the victim's memory"] == "ENOENT")
        #expect(r["the victim's environment"] == "ENOENT")
        #expect(r["process_vm_readv"] == "ESRCH")
        #expect(r["a signal"] == "ESRCH")
        #expect(victim.isRunning)
    }

    @Test func sysfsIsTheAgentsAndSetuidBitsCountForNothing() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let home = try AgentTree(rig.prefix)
        let r = try await EscapeTests.probe(rig, [
            ("interfaces in /sys", ["kind": "listdir", "path": "/sys/class/net"]),
            ("resolv.conf under --ro /etc", ["kind": "text", "path": "/etc/resolv.conf"]),
        ], runArgs: ["--workdir", home.path, "--ro", "/etc"])
        #expect(r["interfaces in /sys"] == "lo,\(rig.prefix)a0", "the agent's own namespace: \(r["interfaces in /sys"] ?? "")")
        #expect(r["resolv.conf under --ro /etc"]?.contains("\nnameserver 127.0.0.1\n") == true, "\(r["resolv.conf under --ro /etc"] ?? "")")
        let opts = try await rig.run(["--workdir", home.path, "--", "sh", "-c", "grep ' \(home.path) ' /proc/self/mountinfo | head -1"])
        #expect(opts.stdout.contains("nosuid") && opts.stdout.contains("nodev") && opts.stdout.contains(" rw,"), "\(opts.stdout)")
    }

    @Test func devHoldsOnlyTheSafeNodesAndResolvConfNamesTheStub() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let hostResolv = try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)
        let r = try await EscapeTests.probe(rig, [
            ("what /dev holds", ["kind": "listdir", "path": "/dev"]),
            ("/dev/null", ["kind": "write", "path": "/dev/null"]),
            ("/dev/urandom", ["kind": "read", "path": "/dev/urandom"]),
            ("resolv.conf", ["kind": "text", "path": "/etc/resolv.conf"]),
            ("write resolv.conf", ["kind": "write", "path": "/etc/resolv.conf"]),
        ])
        #expect(r["what /dev holds"] == "fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero")
        #expect(r["/dev/null"] == "ok" && r["/dev/urandom"] == "ok")
        #expect(r["resolv.conf"]?.contains("\nnameserver 127.0.0.1\n") == true, "\(r["resolv.conf"] ?? "")")
        #expect(r["write resolv.conf"] == "EACCES")
        #expect((try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) == hostResolv, "the host's is untouched")
    }
}

/// A listening Unix socket on the host that counts who connected (accept without blocking).
final class UnixListener {
    let path: String
    let fd: Int32

    init(_ path: String, owner: (UInt32, UInt32)) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 && listen(fd, 8) == 0 }
        }
        guard ok else { close(fd); throw CocoaError(.fileWriteUnknown) }
        chown(path, owner.0, owner.1)
        chmod(path, 0o777)
    }

    /// Connections waiting to be accepted (each is accepted and closed).
    func pendingConnections() -> Int {
        var n = 0
        while case let c = accept(fd, nil, nil), c >= 0 { close(c); n += 1 }
        return n
    }

    deinit { close(fd); unlink(path) }
}
