internal import CSodium

/// Noise CipherState (Noise rev 34 §5.1) for ChaChaPoly: a key and a 64-bit nonce counter.
///
/// The AEAD is `crypto_aead_chacha20poly1305_ietf_*` with the 96-bit nonce `00000000 || LE64(n)`
/// (Noise rev 34 §12.3; wire.md §2.7). Each successful encrypt or decrypt uses `n` then increments
/// it; a failed decrypt leaves `n` unchanged. `n = 2^64-1` is reserved, so reaching it is an error.
///
/// A value type for the handshake engine; the transport keeps its two in a class so a nonce can
/// never be used twice through a copy.
struct NoiseCipherState: Sendable {
    static let keyLength = 32
    static let tagLength = Int(crypto_aead_chacha20poly1305_IETF_ABYTES)

    private(set) var key: SecretBytes?
    private(set) var nonce: UInt64 = 0

    init() {}
    init(key: SecretBytes) {
        precondition(key.count == NoiseCipherState.keyLength)
        self.key = key
    }

    var hasKey: Bool { key != nil }

    /// InitializeKey(k): installs `k` and resets the nonce.
    mutating func initializeKey(_ k: SecretBytes?) {
        precondition(k == nil || k!.count == NoiseCipherState.keyLength)
        key = k
        nonce = 0
    }

    /// Tests and fixtures only: position the nonce (to check the exhaustion rule).
    mutating func setNonce(_ n: UInt64) { nonce = n }

    /// ENCRYPT(k, n, ad, plaintext) into `out`, which must hold `count + 16` bytes. `out` may be
    /// the same address as `plaintext` (in-place; libsodium allows exact overlap).
    mutating func encrypt(ad: UnsafeRawBufferPointer, plaintext: UnsafeRawPointer, count: Int,
                          into out: UnsafeMutableRawPointer) throws(CryptoError) {
        guard let key else { preconditionFailure("encrypt without a key") }
        guard nonce != UInt64.max else { throw CryptoError(.nonceExhausted, "Noise nonce exhausted (2^64-1 is reserved)") }
        var n = NoiseCipherState.nonceBytes(nonce)
        key.withUnsafeBytes { k in
            withUnsafeBytes(of: &n) { npub in
                _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                    out.assumingMemoryBound(to: UInt8.self), nil,
                    plaintext.assumingMemoryBound(to: UInt8.self), UInt64(count),
                    ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count), nil,
                    npub.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        nonce += 1
    }

    /// DECRYPT(k, n, ad, ciphertext) into `out` (at least `count - 16` bytes, may equal
    /// `ciphertext`). Returns the plaintext length. On a bad tag throws and keeps `n`.
    mutating func decrypt(ad: UnsafeRawBufferPointer, ciphertext: UnsafeRawPointer, count: Int,
                          into out: UnsafeMutableRawPointer) throws(CryptoError) -> Int {
        guard let key else { preconditionFailure("decrypt without a key") }
        guard count >= NoiseCipherState.tagLength else { throw CryptoError(.decryptFailed, "Noise ciphertext shorter than its 16-byte tag") }
        guard nonce != UInt64.max else { throw CryptoError(.nonceExhausted, "Noise nonce exhausted (2^64-1 is reserved)") }
        var n = NoiseCipherState.nonceBytes(nonce)
        let rc = key.withUnsafeBytes { k in
            withUnsafeBytes(of: &n) { npub in
                crypto_aead_chacha20poly1305_ietf_decrypt(
                    out.assumingMemoryBound(to: UInt8.self), nil, nil,
                    ciphertext.assumingMemoryBound(to: UInt8.self), UInt64(count),
                    ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
                    npub.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard rc == 0 else { throw CryptoError(.decryptFailed, "Noise message failed authentication") }
        nonce += 1
        return count - NoiseCipherState.tagLength
    }

    /// EncryptWithAd for whole arrays; without a key the plaintext passes through (§5.1).
    mutating func encryptWithAd(_ ad: [UInt8], _ plaintext: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard hasKey else { return plaintext }
        var out = plaintext + [UInt8](repeating: 0, count: NoiseCipherState.tagLength)
        let count = plaintext.count
        // Array's closures only rethrow untyped errors, so the typed error travels as a Result.
        let result: Result<Void, CryptoError> = ad.withUnsafeBytes { a in
            out.withUnsafeMutableBytes { o in
                Result { () throws(CryptoError) in try encrypt(ad: a, plaintext: o.baseAddress!, count: count, into: o.baseAddress!) }
            }
        }
        try result.get()
        return out
    }

    /// DecryptWithAd for whole arrays; without a key the ciphertext passes through (§5.1).
    mutating func decryptWithAd(_ ad: [UInt8], _ ciphertext: ArraySlice<UInt8>) throws(CryptoError) -> [UInt8] {
        guard hasKey else { return Array(ciphertext) }
        guard ciphertext.count >= NoiseCipherState.tagLength else {
            throw CryptoError(.decryptFailed, "Noise ciphertext shorter than its 16-byte tag")
        }
        var buf = Array(ciphertext)
        let result: Result<Int, CryptoError> = ad.withUnsafeBytes { a in
            buf.withUnsafeMutableBytes { b in
                Result { () throws(CryptoError) in try decrypt(ad: a, ciphertext: b.baseAddress!, count: b.count, into: b.baseAddress!) }
            }
        }
        let n = try result.get()
        buf.removeLast(buf.count - n)
        return buf
    }

    /// The 12-byte IETF nonce: 4 zero bytes then the counter little-endian (wire.md §2.7).
    @inline(__always)
    static func nonceBytes(_ n: UInt64) -> (UInt32, UInt32, UInt32) {
        (0, UInt32(truncatingIfNeeded: n).littleEndian, UInt32(truncatingIfNeeded: n >> 32).littleEndian)
    }
}
