internal import CSodium

/// The one owner of libsodium's global state. Every entry point that needs the library (random
/// bytes, key generation) calls `Sodium.ensureInitialized()` first; the rest of the module only
/// runs on keys made after that.
public enum Sodium {
    /// Swift runs a global's initialiser exactly once, under a lock, so this is the one-time
    /// `sodium_init` (which is itself idempotent: 0 first time, 1 afterwards, -1 on failure).
    private static let initialized: Bool = sodium_init() >= 0

    /// Initialises libsodium once; safe from any thread, cheap after the first call.
    /// Traps if libsodium cannot initialise (no entropy source): nothing secure can run then.
    public static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise (sodium_init returned -1)")
    }

    /// `count` bytes from the system CSPRNG (`randombytes_buf`).
    public static func randomBytes(count: Int) -> [UInt8] {
        precondition(count >= 0)
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { randomFill($0) }
        return out
    }

    /// Fills `buffer` from the system CSPRNG (`randombytes_buf`).
    public static func randomFill(_ buffer: UnsafeMutableRawBufferPointer) {
        ensureInitialized()
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        randombytes_buf(base, buffer.count)
    }

    /// Overwrites memory with zeros in a way the optimiser cannot drop (`sodium_memzero`).
    public static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        sodium_memzero(base, buffer.count)
    }

    /// Zeroes an array's bytes in place (for temporaries that held secrets).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }

    /// Constant-time equality of two equally long buffers (`sodium_memcmp`); false when lengths differ.
    public static func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0 else { return true }
        return sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }
}
