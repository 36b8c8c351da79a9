#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct OutputQueueTests {
        /// Many small appends, flushed into a socket whose buffer fills: the queue keeps the
        /// exact byte order across partial sends and empties itself completely.
        @Test func flushesInOrderAcrossPartialSends() throws {
            var fds: [Int32] = [0, 0]
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
            defer { close(fds[0]); close(fds[1]) }
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            let writer = Socket(fd: fds[0]), reader = Socket(fd: fds[1])

            var q = OutputQueue()
            let total = 3 << 20
            var appended = 0
            while appended < total {
                let k = [1, 7, 100, 4096, 70_000][appended % 5]
                Pattern.withWindow(offset: appended, count: k) { q.append($0) }
                appended += k
            }
            #expect(q.count == appended)
            var received = 0, ok = true
            var buf = [UInt8](repeating: 0, count: 65_536)
            while !q.isEmpty || received < appended {
                _ = try q.flush(to: writer)
                while let n = try buf.withUnsafeMutableBytes({ try reader.read(into: $0) }), n > 0 {
                    ok = ok && buf.withUnsafeBytes { Pattern.matches(UnsafeRawBufferPointer(rebasing: $0[..<n]), offset: received) }
                    received += n
                }
            }
            #expect(ok)
            #expect(received == appended)
            #expect(q.count == 0)
        }

        @Test func flushReportsTheSocketError() {
            var q = OutputQueue()
            [UInt8](repeating: 1, count: 10).withUnsafeBytes { q.append($0) }
            #expect(throws: Errno.EBADF) { try q.flush(to: Socket(fd: -1)) }
            #expect(q.count == 10)
            q.removeAll()
            #expect(q.isEmpty)
        }
    }
}
