#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockCore

@Suite struct BoundedFileTests {
    static let tooLarge = "file is larger than the cap"

    // MARK: read(path:maxSize:tooLarge:)

    @Test(arguments: [0, 1, 100, BoundedFile.chunkSize - 1, BoundedFile.chunkSize, BoundedFile.chunkSize + 1, 3 * BoundedFile.chunkSize + 7])
    func readsAFileUpToTheCap(size: Int) throws {
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try Self.withFile(content) { path in
            #expect(BoundedFile.read(path: path, maxSize: size, tooLarge: Self.tooLarge) == .success(content))
            #expect(BoundedFile.read(path: path, maxSize: size + 1000, tooLarge: Self.tooLarge) == .success(content))
        }
    }

    @Test(arguments: [1, 100, BoundedFile.chunkSize, 2 * BoundedFile.chunkSize + 1])
    func refusesOneBytePastTheCapWithTheCallersWords(size: Int) throws {
        try Self.withFile([UInt8](repeating: 0x41, count: size)) { path in
            let result = BoundedFile.read(path: path, maxSize: size - 1, tooLarge: Self.tooLarge)
            #expect(result == .failure(BoundedFile.Failure(stage: .tooLarge, code: 0, message: Self.tooLarge)))
        }
    }

    /// A file with no end (a character device) costs at most the cap plus one byte.
    @Test func stopsReadingAnEndlessFileAtTheCap() {
        let result = BoundedFile.read(path: "/dev/zero", maxSize: 5000, tooLarge: Self.tooLarge)
        #expect(result == .failure(BoundedFile.Failure(stage: .tooLarge, code: 0, message: Self.tooLarge)))
    }

    @Test func namesTheFailedOpen() {
        let result = BoundedFile.read(path: "/nonexistent/airlock/file", maxSize: 10, tooLarge: Self.tooLarge)
        #expect(result == .failure(BoundedFile.Failure(stage: .open, code: ENOENT, message: "cannot open: No such file or directory")))
    }

    @Test func namesTheFailedRead() {
        // A directory opens read-only but read(2) refuses it.
        let result = BoundedFile.read(path: "/", maxSize: 10, tooLarge: Self.tooLarge)
        #expect(result == .failure(BoundedFile.Failure(stage: .read, code: EISDIR, message: "cannot read: Is a directory")))
    }

    // MARK: fill(fd:into:)

    /// Data arriving one byte per write(2) still fills the buffer; a short count means the end.
    @Test func fillsFromDripFedPipeUntilTheEnd() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let bytes: [UInt8] = [1, 2, 3, 4, 5]
        for b in bytes { #expect([b].withUnsafeBytes { write(ends[1], $0.baseAddress, 1) } == 1) }
        close(ends[1])
        defer { close(ends[0]) }
        var buffer = [UInt8](repeating: 0, count: 8)
        let result = buffer.withUnsafeMutableBytes { BoundedFile.fill(fd: ends[0], into: $0) }
        #expect(result == .success(5))
        #expect(buffer == bytes + [0, 0, 0])
    }

    @Test func fillStopsWhenTheBufferIsFull() throws {
        try Self.withFile(Array(0..<10)) { path in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            try #require(fd >= 0)
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0xFF, count: 4)
            #expect(buffer.withUnsafeMutableBytes { BoundedFile.fill(fd: fd, into: $0) } == .success(4))
            #expect(buffer == [0, 1, 2, 3])
            // The rest is left at the descriptor's offset for the next call.
            #expect(buffer.withUnsafeMutableBytes { BoundedFile.fill(fd: fd, into: $0) } == .success(4))
            #expect(buffer == [4, 5, 6, 7])
            #expect(buffer.withUnsafeMutableBytes { BoundedFile.fill(fd: fd, into: $0) } == .success(2))
            var empty: [UInt8] = []
            #expect(empty.withUnsafeMutableBytes { BoundedFile.fill(fd: fd, into: $0) } == .success(0))
        }
    }

    @Test func fillReportsAReadError() {
        var buffer = [UInt8](repeating: 0, count: 4)
        let result = buffer.withUnsafeMutableBytes { BoundedFile.fill(fd: -1, into: $0) }
        #expect(result == .failure(BoundedFile.Failure(stage: .read, code: EBADF, message: "cannot read: Bad file descriptor")))
    }

    // MARK: support

    /// Runs `body` with the path of a new file holding `content`, then removes it.
    static func withFile(_ content: [UInt8], _ body: (String) throws -> Void) throws {
        var template = Array("/tmp/airlock-boundedfile-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(path) }
        let written = content.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        try #require(written == content.count)
        try body(path)
    }
}
