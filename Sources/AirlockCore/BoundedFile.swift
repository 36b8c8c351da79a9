#if canImport(Glibc)
import Glibc
#endif

/// Reads whole small files (policies, configs, keys) without trusting their size: at most one
/// byte past the caller's cap is read, so a huge or endless file (a device, a FIFO fed forever)
/// costs no more than the cap. The policy, the relay config and the key file share it so they
/// refuse files the same way.
public enum BoundedFile {
    /// Why a file could not be read.
    public struct Failure: Error, Sendable, Equatable {
        public enum Stage: Sendable, Equatable {
            case open
            case read
            /// The file holds more than the cap.
            case tooLarge
        }

        public let stage: Stage
        /// The `errno` of the failed open(2) or read(2); 0 for `tooLarge`.
        public let code: Int32
        /// `cannot open: <strerror>`, `cannot read: <strerror>`, or the caller's wording for a
        /// file that is too large. Callers put the file's name in front.
        public let message: String

        public init(stage: Stage, code: Int32, message: String) {
            self.stage = stage
            self.code = code
            self.message = message
        }

        static func system(_ stage: Stage, _ code: Int32) -> Failure {
            let verb = stage == .open ? "open" : "read"
            return Failure(stage: stage, code: code, message: "cannot \(verb): \(String(cString: strerror(code)))")
        }
    }

    /// Reads one chunk at a time up to this size, so a small cap never allocates much.
    static let chunkSize = 64 * 1024

    /// The contents of the file at `path` (opened read-only, close-on-exec), or a failure: the
    /// file has more than `maxSize` bytes (`message` is then `tooLarge`, the caller's wording
    /// for what may be how large), or open(2) or read(2) failed. Retries `EINTR`.
    public static func read(path: String, maxSize: Int, tooLarge: String) -> Result<[UInt8], Failure> {
        precondition(maxSize >= 0 && maxSize < Int.max, "BoundedFile.read needs a cap from 0 to Int.max - 1")
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { return .failure(.system(.open, errno)) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(maxSize + 1, chunkSize))
        while true {
            // Never more than one byte past the cap: that byte is what tells a too-large file apart.
            let want = min(chunk.count, maxSize + 1 - out.count)
            let filled = chunk.withUnsafeMutableBytes { fill(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<want])) }
            switch filled {
            case .failure(let failure):
                return .failure(failure)
            case .success(let n):
                out.append(contentsOf: chunk[..<n])
                if out.count > maxSize { return .failure(Failure(stage: .tooLarge, code: 0, message: tooLarge)) }
                if n < want { return .success(out) }
            }
        }
    }

    /// Reads from `fd` at its current offset into `buffer` until the buffer is full or the
    /// file ends; returns how many bytes were read (fewer than `buffer.count` only at the end).
    /// Retries `EINTR`; any other read(2) error is a `.read` failure. `fd` stays open. For
    /// callers that must own the buffer, such as the key file's, which wipes it.
    public static func fill(fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Failure> {
        var filled = 0
        while filled < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.system(.read, errno))
            }
            if n == 0 { break }
            filled += n
        }
        return .success(filled)
    }
}
