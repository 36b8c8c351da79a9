#if canImport(Glibc)
import Glibc
#endif
import AirlockCore

/// The identity key file: text, private to its owner (mode 0600).
///
/// ```
/// # airlock Ed25519 identity 12D3KooW…
/// private-key: 08011240…   (hex of the libp2p PrivateKey protobuf, wire.md §3.1)
/// ```
/// Comment lines (`#`) and blank lines are ignored; any other line is an error naming the file
/// and line (never the line's content, which may be secret).
public enum KeyFile {
    /// A key file is two short lines; anything much larger is not one.
    public static let maxSize = 16 * 1024
    static let keyField = Array("private-key:".utf8)

    /// Writes `key` to `path` atomically: a new temp file in the same directory (O_EXCL, created
    /// 0600 so it is never readable by others, even briefly), written, fsynced, renamed over
    /// `path`, then the directory fsynced. On failure the temp file is removed.
    public static func write(_ key: Ed25519PrivateKey, to path: String) throws(CryptoError) {
        var content = render(key)
        defer { Sodium.wipe(&content) }
        let (dir, base) = split(path)
        let temp = "\(dir)/.\(base).tmp-\(Hex.encode(Sodium.randomBytes(count: 6)))"
        let fd = retryEINTR { open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600) }
        guard fd >= 0 else { throw failure("cannot create temporary key file \(temp)") }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            // A umask may have removed owner bits; the final mode is exactly 0600.
            guard fchmod(fd, 0o600) == 0 else { throw failure("cannot chmod \(temp)") }
            try writeAll(fd, content, name: temp)
            guard retryEINTR({ fsync(fd) }) == 0 else { throw failure("cannot fsync \(temp)") }
        }
        guard rename(temp, path) == 0 else { throw failure("cannot rename \(temp) to \(path)") }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            // Makes the rename durable; a failure here does not undo the write, so it is not fatal.
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Reads the key at `path`, refusing a file that group or others may read or write, a
    /// non-regular file and a malformed one.
    public static func read(_ path: String) throws(CryptoError) -> Ed25519PrivateKey {
        let fd = try openChecked(path)
        defer { close(fd) }
        return try read(fd: fd, name: path)
    }

    /// Opens the key file at `path` for reading (close-on-exec) after the checks of `read`
    /// (a regular file that only its owner may read or write), without parsing it: for handing
    /// the descriptor to the relay (`airlock run --key`). The caller closes it.
    public static func openChecked(_ path: String) throws(CryptoError) -> Int32 {
        // O_NONBLOCK: a FIFO planted at the path must not hang us; it fails the regular-file check.
        let fd = retryEINTR { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { throw failure("cannot open key file \(path)") }
        var st = stat()
        guard fstat(fd, &st) == 0 else { let e = failure("cannot stat key file \(path)"); close(fd); throw e }
        guard st.st_mode & S_IFMT == S_IFREG else { close(fd); throw CryptoError(.keyFile, "key file \(path) is not a regular file") }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            close(fd)
            throw CryptoError(.keyFile, "key file \(path) has mode \(octal(mode)), so other users may read or change it; run: chmod 600 \(path)")
        }
        return fd
    }

    /// Reads a key from an open descriptor (for example one handed over by a privileged
    /// parent), from its current offset to the end. The descriptor is not closed. Its mode is
    /// not checked: whoever opened it vouched for it. `name` appears in errors.
    public static func read(fd: Int32, name: String? = nil) throws(CryptoError) -> Ed25519PrivateKey {
        let label = name ?? "fd \(fd)"
        var buffer = [UInt8](repeating: 0, count: maxSize + 1)
        defer { Sodium.wipe(&buffer) }
        // Read in place, never through a growing array that would leave unwiped copies behind.
        let filled: Int
        switch buffer.withUnsafeMutableBytes({ BoundedFile.fill(fd: fd, into: $0) }) {
        case .success(let n): filled = n
        case .failure(let f): throw failure("cannot read key file \(label)", errno: f.code)
        }
        guard filled <= maxSize else { throw CryptoError(.keyFile, "key file \(label) is larger than \(maxSize) bytes; it is not a key file") }
        return try parse(buffer[..<filled], name: label)
    }

    /// Parses key file text. Errors name `name` and the line number.
    static func parse(_ text: ArraySlice<UInt8>, name: String) throws(CryptoError) -> Ed25519PrivateKey {
        var key: Ed25519PrivateKey?
        var lineNumber = 0
        for rawLine in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = trim(rawLine)
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            guard line.starts(with: keyField) else {
                throw CryptoError(.keyFile, "key file \(name) line \(lineNumber): expected \"private-key: <hex>\", a # comment or a blank line")
            }
            guard key == nil else { throw CryptoError(.keyFile, "key file \(name) line \(lineNumber): a second private-key line") }
            let value = trim(line.dropFirst(keyField.count))
            guard value.count % 2 == 0, value.count / 2 <= KeyProtobuf.maxLength,
                  let protobuf = try? SecretBytes(count: value.count / 2, initializingWith: { (out: UnsafeMutableRawBufferPointer) throws(CryptoError) in
                      try decodeHex(value, into: out)
                  }) else {
                throw CryptoError(.keyFile, "key file \(name) line \(lineNumber): private-key is not an even number of hex digits")
            }
            do {
                key = try Ed25519PrivateKey(protobuf: protobuf)
            } catch {
                throw CryptoError(.keyFile, "key file \(name) line \(lineNumber): \(error.message)")
            }
        }
        guard let key else { throw CryptoError(.keyFile, "key file \(name) has no private-key line") }
        return key
    }

    /// The file content for `key` (it holds the secret: the caller wipes it after use).
    public static func render(_ key: Ed25519PrivateKey) -> [UInt8] {
        var out = Array("# airlock Ed25519 identity \(PeerID(publicKey: key.publicKey))\nprivate-key: ".utf8)
        let digits = Array("0123456789abcdef".utf8)
        key.protobuf.withUnsafeBytes { pb in
            for b in pb { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    private static func decodeHex(_ text: ArraySlice<UInt8>, into out: UnsafeMutableRawBufferPointer) throws(CryptoError) {
        func nibble(_ c: UInt8) throws(CryptoError) -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: throw CryptoError(.keyFile, "not hex")
            }
        }
        var i = text.startIndex
        for j in 0..<out.count {
            out[j] = try nibble(text[i]) << 4 | nibble(text[i + 1])
            i += 2
        }
    }

    private static func trim(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let space: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }
        guard let first = s.firstIndex(where: { !space($0) }), let last = s.lastIndex(where: { !space($0) }) else { return [] }
        return s[first...last]
    }

    private static func split(_ path: String) -> (dir: String, base: String) {
        let bytes = Array(path.utf8)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return (".", path) }
        let dir = slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
        return (dir, String(decoding: bytes[(slash + 1)...], as: UTF8.self))
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], name: String) throws(CryptoError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in retryEINTR { Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset) } }
            guard n > 0 else { throw failure("cannot write \(name)") }
            offset += n
        }
    }

    private static func retryEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let r = call()
            if r < 0 && errno == EINTR { continue }
            return r
        }
    }

    private static func failure(_ what: String, errno code: Int32 = errno) -> CryptoError {
        CryptoError(.keyFile, "\(what): \(String(cString: strerror(code)))")
    }

    private static func octal(_ mode: mode_t) -> String {
        let s = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}
