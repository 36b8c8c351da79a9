#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import AirlockCore
@testable import AirlockIO

/// A fresh directory under /tmp, removed on deinit.
final class ControlTempDir: Sendable {
    let path: String
    init() {
        var template = Array("/tmp/airlock-control-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A control server on its own loop thread that records what it sees.
final class ControlHarness: @unchecked Sendable {
    // @unchecked Sendable: `server` is touched only on the loop thread; `entries` is a Mutex.
    enum Entry: Sendable {
        case message(ControlPeer, [UInt8], [Int32])
        case disconnect(ControlPeer, ControlServer.DisconnectReason)
    }
    /// Runs on the loop for each message after it is recorded; owns the fds. Without one the
    /// harness closes them.
    typealias Reaction = @Sendable (ControlServer, ControlPeer, [UInt8], [Int32]) -> Void

    let thread: EventLoopThread
    let path: String
    private var server: ControlServer?
    private let entries = Mutex<[Entry]>([])

    init(path: String, group: UInt32? = nil, mode: UInt32 = 0o660, maxQueuedReplies: Int? = nil,
         react: Reaction? = nil) async throws {
        thread = try EventLoopThread(name: "control-test")
        self.path = path
        do {
            try await thread.loop.submit { [self] in
                let s = try ControlServer(path: path, loop: thread.loop, group: group, mode: mode)
                if let maxQueuedReplies { s.maxQueuedReplies = maxQueuedReplies }
                s.onMessage = { [unowned s] peer, bytes, fds in
                    self.entries.withLock { $0.append(.message(peer, bytes, fds)) }
                    if let react { react(s, peer, bytes, fds) } else { fds.forEach { _ = Glibc.close($0) } }
                }
                s.onDisconnect = { peer, reason in
                    self.entries.withLock { $0.append(.disconnect(peer, reason)) }
                }
                server = s
            }
        } catch {
            thread.stopAndJoin()
            throw error
        }
    }

    /// Closes the server (on the loop, waiting for it) and stops the loop thread.
    func stop() {
        let closed = DispatchSemaphore(value: 0)
        thread.loop.execute { [self] in
            server?.close()
            server = nil
            closed.signal()
        }
        closed.wait()
        thread.stopAndJoin()
    }

    var messages: [(peer: ControlPeer, bytes: [UInt8], fds: [Int32])] {
        entries.withLock { $0.compactMap { if case .message(let p, let b, let f) = $0 { (p, b, f) } else { nil } } }
    }

    var disconnects: [(peer: ControlPeer, reason: ControlServer.DisconnectReason)] {
        entries.withLock { $0.compactMap { if case .disconnect(let p, let r) = $0 { (p, r) } else { nil } } }
    }

    /// Polls until `pick` returns a value (or fails the test after `timeout`).
    func wait<T>(timeout: Duration = .seconds(5), _ pick: (ControlHarness) -> T?) async throws -> T {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let v = pick(self) { return v }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw LoopTimeout()
    }
}

/// A pipe whose write end is handed around: once every copy of the write end is closed (ours,
/// and any the server received), reading the read end reports end of file. Unlike counting
/// /proc/self/fd, this is exact while other tests open descriptors in parallel.
struct LeakProbe {
    let readEnd: Int32
    let writeEnd: Int32
    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        readEnd = fds[0]; writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC); _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
    }
    /// A fresh copy of the write end to send (the caller closes it after sending).
    func copy() -> Int32 { fcntl(writeEnd, F_DUPFD_CLOEXEC, 0) }
    /// Closes our own write end, then waits (bounded) for end of file on the read end.
    func allCopiesClosed(timeoutMilliseconds: Int32 = 5000) -> Bool {
        _ = Glibc.close(writeEnd)
        defer { _ = Glibc.close(readEnd) }
        var p = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMilliseconds) == 1 else { return false }
        var b: UInt8 = 0
        return read(readEnd, &b, 1) == 0
    }
}

func isCloseOnExec(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) & FD_CLOEXEC != 0 }

func inode(_ fd: Int32) -> UInt64 {
    var st = stat()
    return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
}

func openOrFail(_ path: String, _ flags: Int32) -> Int32 {
    let fd = open(path, flags | O_CLOEXEC, 0o600)
    precondition(fd >= 0, "open \(path): \(Errno.current)")
    return fd
}

extension IOTests {
    @Suite struct ControlSocketServerTests {
        /// What the server saw in the descriptors of the round-trip test.
        struct Observed: Sendable {
            var closeOnExec: [Bool] = []
            var fileInode: UInt64 = 0
            var nullDevice: UInt64 = 0
            var wrote = 0
            var replyError: String?
        }

        @Test func roundTripWithThreeDescriptors() async throws {
            let tmp = ControlTempDir()
            let observed = Mutex(Observed())
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock") { server, peer, _, fds in
                var o = Observed()
                o.closeOnExec = fds.map(isCloseOnExec)
                if fds.count == 3 {
                    o.wrote = "hello".utf8CString.withUnsafeBytes { Glibc.write(fds[0], $0.baseAddress, 5) }
                    o.fileInode = inode(fds[1])
                    var st = stat()
                    if fstat(fds[2], &st) == 0 { o.nullDevice = UInt64(st.st_rdev) }
                }
                // Recorded before replying: the reply is what lets the test look.
                observed.withLock { $0 = o }
                if fds.count == 3 {
                    do throws(ControlSocketError) {
                        try server.send(to: peer, try ControlMessage.encode(type: "started", ["ok": true]), fds: [fds[1]])
                    } catch { observed.withLock { $0.replyError = "\(error)" } }
                }
                fds.forEach { _ = Glibc.close($0) }
            }
            defer { h.stop() }

            let (pipeRead, pipeWrite) = makePipe()
            let file = openOrFail(tmp.path + "/key", O_RDWR | O_CREAT)
            let null = openOrFail("/dev/null", O_WRONLY)
            defer { [pipeRead, pipeWrite, file, null].forEach { _ = Glibc.close($0) } }

            let client = try ControlClient.connect(path: h.path)
            try client.send(ControlMessage.encode(type: "start", ["argv": ["true"]]), fds: [pipeWrite, file, null])
            let reply = try #require(try client.receive(timeout: .seconds(5)))
            defer { reply.fds.forEach { _ = Glibc.close($0) } }

            #expect(try ControlMessage.decode(reply.bytes).type == "started")
            #expect(reply.fds.count == 1)
            #expect(reply.fds.allSatisfy(isCloseOnExec))
            #expect(reply.fds.first.map(inode) == inode(file))

            var got = [UInt8](repeating: 0, count: 16)
            #expect(Glibc.read(pipeRead, &got, got.count) == 5)
            #expect(Array(got.prefix(5)) == Array("hello".utf8))

            let o = observed.withLock { $0 }
            #expect(o.closeOnExec == [true, true, true])
            #expect(o.wrote == 5)
            #expect(o.fileInode == inode(file))
            var nullStat = stat()
            #expect(stat("/dev/null", &nullStat) == 0 && o.nullDevice == UInt64(nullStat.st_rdev))
            #expect(o.replyError == nil)

            let peer = try #require(h.messages.first?.peer)
            #expect(peer.uid == getuid())
            #expect(peer.gid == getgid())
            #expect(peer.pid == getpid())
            #expect(peer.network == (try NamespaceID.network(ofProcess: getpid())))
            #expect(peer.network == (try NamespaceID.currentNetwork()))
            #expect(try ControlMessage.decode(h.messages[0].bytes).type == "start")
            client.close()
        }

        @Test func messageOfExactlyTheCapIsDelivered() async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock")
            defer { h.stop() }
            let client = try ControlClient.connect(path: h.path)
            let bytes = (0..<ControlSocket.maxPayload).map { UInt8($0 % 251) }
            try client.send(bytes)
            let got = try await h.wait { $0.messages.first }
            #expect(got.bytes == bytes)
            #expect(h.disconnects.isEmpty)
        }

        @Test(arguments: [
            (ControlSocket.maxPayload + 1, 3),   // payload truncated (MSG_TRUNC)
            (16, ControlSocket.maxFDs + 1),      // descriptors truncated (MSG_CTRUNC)
            (0, 2),                              // empty message carrying descriptors
        ])
        func hostileMessageClosesTheConnectionWithoutLeaking(size: Int, fdCount: Int) async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock")
            defer { h.stop() }
            let probe = LeakProbe()
            do {
                let client = try ControlClient.connect(path: h.path)
                let fds = (0..<fdCount).map { _ in probe.copy() }
                let bytes = [UInt8](repeating: 0x7b, count: size)
                let sent = try bytes.withUnsafeBytes { raw throws(Errno) in try client.socket.send(raw, fds: fds) }
                #expect(sent)
                fds.forEach { _ = Glibc.close($0) }
                let gone = try await h.wait { $0.disconnects.first }
                guard case .protocolViolation = gone.reason else {
                    Issue.record("expected a protocol violation, got \(gone.reason)")
                    return
                }
                let ended = try client.receive(timeout: .seconds(5)) == nil
                #expect(ended)
                client.close()
            }
            #expect(h.messages.isEmpty)
            #expect(probe.allCopiesClosed())
        }

        @Test func clientDisconnectIsReported() async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock")
            defer { h.stop() }
            let client = try ControlClient.connect(path: h.path)
            try client.send(ControlMessage.encode(type: "hello"))
            let peer = try await h.wait { $0.messages.first?.peer }
            #expect(h.disconnects.isEmpty)
            client.close()
            let gone = try await h.wait { $0.disconnects.first }
            #expect(gone.peer == peer)
            #expect(gone.reason == .peerClosed)

            // A caller that never says anything is reported too.
            let silent = try ControlClient.connect(path: h.path)
            silent.close()
            let second = try await h.wait { $0.disconnects.count == 2 ? $0.disconnects[1] : nil }
            #expect(second.peer.id != peer.id)
            #expect(second.reason == .peerClosed)
        }

        @Test func serverDisconnectEndsTheClientAndLaterSendsFail() async throws {
            let tmp = ControlTempDir()
            let sendAfter = Mutex<ControlSocketError?>(nil)
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock") { server, peer, _, fds in
                fds.forEach { _ = Glibc.close($0) }
                server.disconnect(peer)
                #expect(server.peers.isEmpty)
                do throws(ControlSocketError) { try server.send(to: peer, [1]) } catch {
                    sendAfter.withLock { $0 = error }
                }
            }
            defer { h.stop() }
            let client = try ControlClient.connect(path: h.path)
            try client.send(ControlMessage.encode(type: "go"))
            let ended = try client.receive(timeout: .seconds(5)) == nil
            #expect(ended)
            let gone = try await h.wait { $0.disconnects.first }
            #expect(gone.reason == .closedByServer)
            #expect(sendAfter.withLock { $0 } == .system(.ENOTCONN, context: "send to \(gone.peer)"))
        }

        @Test func repliesThatMustWaitAreDeliveredInOrderWithTheirDescriptors() async throws {
            let tmp = ControlTempDir()
            let replies = 12, size = 60_000
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock") { server, peer, _, fds in
                // More than the socket buffer holds: most replies wait in the queue.
                for i in 0..<replies {
                    try? server.send(to: peer, [UInt8(i)] + [UInt8](repeating: 0, count: size), fds: fds)
                }
                fds.forEach { _ = Glibc.close($0) }
            }
            defer { h.stop() }
            let probe = LeakProbe()
            do {
                let client = try ControlClient.connect(path: h.path)
                let copy = probe.copy()
                try client.send(ControlMessage.encode(type: "flood"), fds: [copy])
                Glibc.close(copy)
                try await Task.sleep(for: .milliseconds(50))  // let the queue build up
                for i in 0..<replies {
                    let r = try #require(try client.receive(timeout: .seconds(5)))
                    #expect(r.bytes.count == size + 1 && r.bytes.first == UInt8(i))
                    #expect(r.fds.count == 1)
                    r.fds.forEach { _ = Glibc.close($0) }
                }
                client.close()
                _ = try await h.wait { $0.disconnects.first }
            }
            #expect(h.disconnects.first?.reason == .peerClosed)
            #expect(probe.allCopiesClosed())
        }

        @Test func peerThatDoesNotReadIsDisconnected() async throws {
            let tmp = ControlTempDir()
            let failure = Mutex<ControlSocketError?>(nil)
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock",
                                             maxQueuedReplies: 2) { server, peer, _, _ in
                for _ in 0..<20 {
                    do throws(ControlSocketError) { try server.send(to: peer, [UInt8](repeating: 1, count: 60_000)) } catch {
                        failure.withLock { $0 = error }
                        return
                    }
                }
            }
            defer { h.stop() }
            let client = try ControlClient.connect(path: h.path)
            try client.send(ControlMessage.encode(type: "flood"))
            let gone = try await h.wait { $0.disconnects.first }
            #expect(gone.reason == .tooSlow)
            #expect(failure.withLock { $0 } != nil)
            // What the kernel already took is still readable, then the end.
            var count = 0
            while let r = try client.receive(timeout: .seconds(5)) { count += 1; #expect(r.bytes.count == 60_000) }
            #expect(count >= 1 && count < 20)
        }

        /// Whether this machine can start a process in a new network namespace (root and
        /// `unshare` and `python3` present).
        static let canUnshareNetwork: Bool = {
            guard geteuid() == 0 else { return false }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["unshare", "-n", "python3", "-c", "pass"]
            guard (try? p.run()) != nil else { return false }
            p.waitUntilExit()
            return p.terminationStatus == 0
        }()

        /// A caller in another network namespace is identified by that namespace, not ours:
        /// what lets the relay refuse an agent that reaches the socket.
        @Test(.enabled(if: canUnshareNetwork || ProcessInfo.processInfo.environment["CI"] == "true",
                       "needs root, unshare and python3"))
        func peerInAnotherNetworkNamespaceIsTold() async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock") { server, peer, _, fds in
                fds.forEach { _ = Glibc.close($0) }
                server.disconnect(peer)
            }
            defer { h.stop() }
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            child.arguments = ["unshare", "-n", "python3", "-c", """
                import socket, sys
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.connect(sys.argv[1])
                s.send(b'{"type":"hello"}')
                s.recv(16)
                """, h.path]
            try child.run()
            let peer = try await h.wait(timeout: .seconds(20)) { $0.messages.first?.peer }
            child.waitUntilExit()
            #expect(child.terminationStatus == 0)
            #expect(peer.pid == child.processIdentifier)
            let ours = try NamespaceID.currentNetwork()
            #expect(peer.network != nil)
            #expect(peer.network != ours)
        }
    }
}
