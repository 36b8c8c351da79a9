internal import CSodium
#if canImport(Glibc)
import Glibc
#endif
import AirlockCore

/// Secret bytes (keys, seeds, chaining keys) in memory this type owns: zeroed with
/// `sodium_memzero` when the last reference goes, compared in constant time, and printed only as
/// a short fingerprint, never the bytes.
///
/// The storage never moves, so pointers handed to libsodium inside `withUnsafeBytes` stay valid
/// for the call. Contents are written only while initialising.
public final class SecretBytes: @unchecked Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    // @unchecked Sendable: `base` is written only inside an initialiser, then only read.
    private let base: UnsafeMutableRawPointer
    /// Number of secret bytes.
    public let count: Int
    /// Bytes mapped for a long-lived secret (`longLived`), 0 for heap memory.
    private let mapped: Int

    /// Allocates `count` bytes (zeroed) and lets `body` fill them. If `body` throws, the
    /// memory is wiped and freed (by deinit) as the error propagates.
    ///
    /// `longLived` (identity keys): the bytes get pages of their own that a forked child sees
    /// zeroed (MADV_WIPEONFORK) and a core dump leaves out (MADV_DONTDUMP), so an agent's init,
    /// a fork of the relay that never executes anything, holds no copy of the relay's keys.
    public init<E: Error>(count: Int, longLived: Bool = false,
                          initializingWith body: (UnsafeMutableRawBufferPointer) throws(E) -> Void) throws(E) {
        precondition(count >= 0)
        self.count = count
        if longLived, let pages = Self.mapPages(count) {
            base = pages.base
            mapped = pages.size
        } else {
            base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
            mapped = 0
        }
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        // Every stored property is set, so if `body` throws, deinit runs and wipes and frees.
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// Copies `bytes`. The caller still owns (and should wipe) its own copy.
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        self.init(count: bytes.count) { (raw: UnsafeMutableRawBufferPointer) in
            _ = raw.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// `count` bytes from the system CSPRNG.
    public static func random(count: Int) -> SecretBytes {
        SecretBytes(count: count) { (raw: UnsafeMutableRawBufferPointer) in Sodium.randomFill(raw) }
    }

    deinit {
        sodium_memzero(base, count)
        if mapped > 0 { munmap(base, mapped) } else { base.deallocate() }
    }

    /// Whole pages for `count` bytes, wiped in forked children and left out of core dumps; nil
    /// when the kernel refuses (then the heap is used, as for every other secret).
    private static func mapPages(_ count: Int) -> (base: UnsafeMutableRawPointer, size: Int)? {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = max(page, (count + page - 1) / page * page)
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { return nil }
        let madvWipeOnFork: Int32 = 18, madvDontDump: Int32 = 16  // linux/mman.h; not in Swift's Glibc
        guard madvise(p, size, madvWipeOnFork) == 0 else { munmap(p, size); return nil }
        _ = madvise(p, size, madvDontDump)
        return (p, size)
    }

    /// Read access for the duration of `body`; do not let the pointer escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// A copy as a plain array, for the few places (tests, fixtures) that need one.
    /// The copy is not protected: wipe it with `Sodium.wipe` when done.
    public func unprotectedCopy() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// Constant time in the contents (length is not secret).
    public static func == (a: SecretBytes, b: SecretBytes) -> Bool {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in Sodium.constantTimeEqual(x, y) } }
    }

    /// A fingerprint that identifies a secret in logs without revealing it: the first 4 bytes of
    /// SHA-256 over a domain tag and the secret.
    public var fingerprint: String {
        var tagged = Array("airlock-secret-fingerprint:".utf8)
        withUnsafeBytes { tagged.append(contentsOf: $0) }
        defer { Sodium.wipe(&tagged) }
        return Hex.encode(SHA256.hash(tagged).prefix(4))
    }

    public var description: String { "SecretBytes(\(count) bytes, fp \(fingerprint))" }
    public var debugDescription: String { description }
}
