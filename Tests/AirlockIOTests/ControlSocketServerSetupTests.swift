#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import AirlockIO

/// Starts a server on a throwaway loop thread and returns the error it failed with (nil when it
/// started; it is then closed again).
func controlServerError(path: String, group: UInt32? = nil) async throws -> ControlSocketError? {
    let thread = try EventLoopThread(name: "control-setup")
    defer { thread.stopAndJoin() }
    return try await thread.loop.submit { () -> ControlSocketError? in
        do throws(ControlSocketError) {
            let s = try ControlServer(path: path, loop: thread.loop, group: group)
            s.close()
            return nil
        } catch { return error }
    }
}

func fileStat(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

extension IOTests {
    @Suite struct ControlSocketServerSetupTests {
        @Test func createsTheDirectoryAndSocketWithTheGroup() async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock", group: 4242)
            let dir = try #require(fileStat(tmp.path + "/run"))
            #expect(dir.st_mode & 0o7777 == 0o750)
            #expect(dir.st_uid == geteuid() && dir.st_gid == 4242)
            let sock = try #require(fileStat(h.path))
            #expect(sock.st_mode & 0o170000 == 0o140000)
            #expect(sock.st_mode & 0o777 == 0o660)
            #expect(sock.st_gid == 4242)
            h.stop()
            #expect(fileStat(h.path) == nil, "close removes the socket file")
        }

        @Test func replacesAStaleSocket() async throws {
            let tmp = ControlTempDir()
            let dir = tmp.path + "/run"
            #expect(mkdir(dir, 0o750) == 0 && chmod(dir, 0o750) == 0)
            let path = dir + "/control.sock"
            // What a relay that died leaves behind: a bound socket file no one listens on.
            let dead = try ControlSocket.make(nonBlocking: true)
            try dead.bind(path: path)
            dead.close()
            #expect(throws: Errno.ECONNREFUSED) { try ControlClient.connect(path: path) }

            let h = try await ControlHarness(path: path)
            defer { h.stop() }
            let client = try ControlClient.connect(path: path)
            try client.send(ControlMessage.encode(type: "ping"))
            _ = try await h.wait { $0.messages.first }
        }

        @Test func neverReplacesALiveSocket() async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock")
            defer { h.stop() }
            let before = try #require(fileStat(h.path))
            let error = try await controlServerError(path: h.path)
            #expect(error == .alreadyListening(path: h.path))
            #expect(error.map { "\($0)" }?.contains("already listening on \(h.path)") == true)
            // The first server still owns the path and still answers.
            let after = try #require(fileStat(h.path))
            #expect(after.st_ino == before.st_ino)
            let client = try ControlClient.connect(path: h.path)
            try client.send(ControlMessage.encode(type: "ping"))
            _ = try await h.wait { $0.messages.first }
        }

        @Test func leavesAFileThatIsNotASocketAlone() async throws {
            let tmp = ControlTempDir()
            let dir = tmp.path + "/run"
            #expect(mkdir(dir, 0o750) == 0 && chmod(dir, 0o750) == 0)
            let path = dir + "/control.sock"
            #expect(FileManager.default.createFile(atPath: path, contents: Data("keep".utf8)))
            #expect(try await controlServerError(path: path) == .notASocket(path: path))
            #expect(FileManager.default.contents(atPath: path) == Data("keep".utf8))
        }

        @Test func refusesALooseDirectory() async throws {
            let tmp = ControlTempDir()
            let dir = tmp.path + "/run"
            #expect(mkdir(dir, 0o777) == 0 && chmod(dir, 0o777) == 0)
            let error = try #require(try await controlServerError(path: dir + "/control.sock"))
            guard case .unsafeDirectory(let path, _, let fix) = error else {
                Issue.record("expected unsafeDirectory, got \(error)")
                return
            }
            #expect(path == dir)
            #expect(fix.contains("chmod 0750 \(dir)"))
            #expect("\(error)".contains("0777"))
            #expect(fileStat(dir + "/control.sock") == nil)
            #expect(fileStat(dir).map { $0.st_mode & 0o777 } == 0o777, "the directory is reported, not changed")
        }

        @Test func refusesADirectoryOwnedBySomeoneElse() async throws {
            let tmp = ControlTempDir()
            let dir = tmp.path + "/run"
            #expect(mkdir(dir, 0o750) == 0 && chmod(dir, 0o750) == 0 && chown(dir, 12345, getegid()) == 0)
            let error = try #require(try await controlServerError(path: dir + "/control.sock"))
            #expect("\(error)".contains("owned by 12345:\(getegid())"))
            #expect("\(error)".contains("chown \(geteuid()):\(getegid()) \(dir)"))
        }

        @Test func refusesADirectoryOfAnotherGroup() async throws {
            let tmp = ControlTempDir()
            let dir = tmp.path + "/run"
            #expect(mkdir(dir, 0o750) == 0 && chmod(dir, 0o750) == 0)
            let error = try await controlServerError(path: dir + "/control.sock", group: 4242)
            guard case .unsafeDirectory = error else {
                Issue.record("expected unsafeDirectory, got \(String(describing: error))")
                return
            }
        }

        @Test func refusesASymbolicLinkAsTheDirectory() async throws {
            let tmp = ControlTempDir()
            let real = tmp.path + "/real"
            #expect(mkdir(real, 0o750) == 0 && chmod(real, 0o750) == 0)
            #expect(symlink(real, tmp.path + "/run") == 0)
            let error = try await controlServerError(path: tmp.path + "/run/control.sock")
            guard case .unsafeDirectory = error else {
                Issue.record("expected unsafeDirectory, got \(String(describing: error))")
                return
            }
        }

        @Test(arguments: ["relative/control.sock", "/tmp/", "/tmp/..", ""])
        func refusesAPathWithoutAFileName(path: String) async throws {
            #expect(try await controlServerError(path: path) == .system(.EINVAL, context: "control socket path \(path) must be absolute and name a file"))
        }
    }
}
