internal import CSodium
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

    /// Allocates `count` bytes (zeroed) and lets `body` fill them. If `body` throws, the
    /// memory is wiped and freed (by deinit) as the error propagates.
    public init<E: Error>(count: Int, initializingWith body: (UnsafeMutableRawBufferPointer) throws(E) -> Void) throws(E) {
        precondition(count >= 0)
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
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
        base.deallocate()
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
