internal import CSodium

/// SHA-256 and HMAC-SHA-256 through libsodium (Noise HASH and HMAC-HASH, Noise rev 34 §4.3).
public enum SHA256 {
    public static let byteCount = 32

    /// `crypto_hash_sha256` of `data`.
    public static func hash<C: Collection>(_ data: C) -> [UInt8] where C.Element == UInt8 {
        var out = [UInt8](repeating: 0, count: byteCount)
        let input = Array(data)
        // libsodium declares the input non-null even for length 0; a one-byte buffer stands in.
        let padded = input.isEmpty ? [0] : input
        padded.withUnsafeBufferPointer { buf in
            _ = crypto_hash_sha256(&out, buf.baseAddress!, UInt64(input.count))
        }
        return out
    }

    /// HMAC-SHA-256 with a key of any length over the concatenation of `parts`, written to `out`
    /// (32 bytes). Uses the init/update/final API because the one-shot call wants a 32-byte key.
    /// The HMAC state is wiped before returning.
    static func hmac(key: UnsafeRawBufferPointer, parts: [UnsafeRawBufferPointer], into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= byteCount && key.count > 0)
        var state = crypto_auth_hmacsha256_state()
        crypto_auth_hmacsha256_init(&state, key.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count)
        for p in parts where p.count > 0 {
            crypto_auth_hmacsha256_update(&state, p.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(p.count))
        }
        crypto_auth_hmacsha256_final(&state, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        withUnsafeMutableBytes(of: &state) { Sodium.wipe($0) }
    }
}
