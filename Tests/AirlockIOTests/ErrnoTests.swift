#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct ErrnoTests {
        @Test func descriptionNamesTheErrorAndExplainsIt() {
            #expect(Errno.ECONNREFUSED.description == "ECONNREFUSED (Connection refused)")
            #expect(Errno(rawValue: 4242).name == "errno 4242")
            #expect(Errno(rawValue: 4242).description.hasPrefix("errno 4242 ("))
        }

        @Test func nonBlockingReportsWouldBlockAsNilAndOtherErrorsAsThrows() throws {
            let (r, w) = makePipe()
            let fds = [r, w]
            defer { close(fds[0]); close(fds[1]) }
            var byte: UInt8 = 0
            let empty = try nonBlocking { read(fds[0], &byte, 1) }
            #expect(empty == nil)
            #expect(write(fds[1], "x", 1) == 1)
            let one = try nonBlocking { read(fds[0], &byte, 1) }
            #expect(one == 1 && byte == UInt8(ascii: "x"))
            #expect(throws: Errno.EBADF) { try nonBlocking { read(-1, &byte, 1) } }
            #expect(throws: Errno.EBADF) { try retryingEINTR { close(-1) } }
        }

        @Test func retryingEINTRReturnsSuccessAfterInterruptions() throws {
            var calls = 0
            let r = try retryingEINTR { () -> Int32 in
                calls += 1
                if calls < 3 { errno = EINTR; return -1 }
                return 7
            }
            #expect(r == 7 && calls == 3)
        }
    }
}
