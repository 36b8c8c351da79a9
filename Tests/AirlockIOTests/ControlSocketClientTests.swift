#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct ControlSocketClientTests {
        @Test func connectingWhereNoOneListensFails() throws {
            let tmp = ControlTempDir()
            #expect(throws: Errno.ENOENT) { try ControlClient.connect(path: tmp.path + "/none.sock") }
            #expect(throws: Errno(rawValue: ENAMETOOLONG)) {
                try ControlClient.connect(path: "/tmp/" + String(repeating: "x", count: 200))
            }
        }

        @Test func enforcesTheProtocolCapsBeforeSending() async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock")
            defer { h.stop() }
            let client = try ControlClient.connect(path: h.path)
            #expect(isCloseOnExec(client.socket.fd))
            #expect(throws: Errno(rawValue: EMSGSIZE)) { try client.send([]) }
            #expect(throws: Errno(rawValue: EMSGSIZE)) {
                try client.send([UInt8](repeating: 0, count: ControlSocket.maxPayload + 1))
            }
            #expect(throws: Errno.EINVAL) {
                try client.send([1], fds: [Int32](repeating: 0, count: ControlSocket.maxFDs + 1))
            }
            // None of them reached the server: the connection is still fine.
            try client.send([2])
            let got = try await h.wait { $0.messages.first }
            #expect(got.bytes == [2])
            #expect(h.disconnects.isEmpty)
        }

        @Test func receiveTimesOut() async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock")
            defer { h.stop() }
            let client = try ControlClient.connect(path: h.path)
            let start = ContinuousClock.now
            #expect(throws: Errno.ETIMEDOUT) { try client.receive(timeout: .milliseconds(50)) }
            #expect(ContinuousClock.now - start >= .milliseconds(50))
            #expect(throws: Errno.ETIMEDOUT) { try client.receive(timeout: .zero) }
        }

        @Test func closedClientRefusesWork() async throws {
            let tmp = ControlTempDir()
            let h = try await ControlHarness(path: tmp.path + "/run/control.sock")
            defer { h.stop() }
            let client = try ControlClient.connect(path: h.path)
            client.close()
            client.close()
            #expect(throws: Errno.EBADF) { try client.send([1]) }
            #expect(throws: Errno.EBADF) { try client.receive(timeout: .zero) }
            _ = try await h.wait { $0.disconnects.first }
        }
    }
}
