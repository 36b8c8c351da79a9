/// Noise SymmetricState (Noise rev 34 §5.2) for SHA-256: chaining key `ck`, handshake hash `h`
/// and the CipherState they key. `ck` is secret and lives in `SecretBytes`; `h` is public.
struct NoiseSymmetricState: Sendable {
    static let hashLength = SHA256.byteCount

    private(set) var cipher = NoiseCipherState()
    private var ck: SecretBytes
    private(set) var h: [UInt8]

    /// InitializeSymmetric(protocol_name): `h` is the name zero-padded to HASHLEN when it fits,
    /// else its hash; `ck = h`. (`Noise_XX_25519_ChaChaPoly_SHA256` is exactly 32 bytes, wire.md §2.1.)
    init(protocolName: String) {
        let name = Array(protocolName.utf8)
        if name.count <= NoiseSymmetricState.hashLength {
            h = name + [UInt8](repeating: 0, count: NoiseSymmetricState.hashLength - name.count)
        } else {
            h = SHA256.hash(name)
        }
        ck = SecretBytes(copying: h)
    }

    /// MixKey(ikm): `(ck, k) = HKDF(ck, ikm, 2)`; installs `k` with nonce 0.
    mutating func mixKey(_ ikm: SecretBytes) {
        let out = ikm.withUnsafeBytes { NoiseSymmetricState.hkdf(chainingKey: ck, ikm: $0, outputs: 2) }
        ck = out[0]
        cipher.initializeKey(out[1])
    }

    /// MixHash(data): `h = HASH(h || data)`.
    mutating func mixHash<C: Collection>(_ data: C) where C.Element == UInt8 {
        var input = h
        input.append(contentsOf: data)
        h = SHA256.hash(input)
    }

    /// EncryptAndHash: encrypt with `h` as associated data (or pass through before any key), then
    /// mix the ciphertext into `h`.
    mutating func encryptAndHash(_ plaintext: [UInt8]) throws(CryptoError) -> [UInt8] {
        let c = try cipher.encryptWithAd(h, plaintext)
        mixHash(c)
        return c
    }

    /// DecryptAndHash: the inverse; on failure `h` and the nonce are unchanged.
    mutating func decryptAndHash(_ ciphertext: ArraySlice<UInt8>) throws(CryptoError) -> [UInt8] {
        let p = try cipher.decryptWithAd(h, ciphertext)
        mixHash(ciphertext)
        return p
    }

    /// Split(): `(k1, k2) = HKDF(ck, empty, 2)`; k1 protects initiator→responder traffic.
    func split() -> (NoiseCipherState, NoiseCipherState) {
        let out = NoiseSymmetricState.hkdf(chainingKey: ck, ikm: UnsafeRawBufferPointer(start: nil, count: 0), outputs: 2)
        return (NoiseCipherState(key: out[0]), NoiseCipherState(key: out[1]))
    }

    /// Test access to the chaining key's current value (never logged).
    var chainingKeyForTesting: SecretBytes { ck }

    /// HKDF(chaining_key, input_key_material, n) per Noise rev 34 §4.3 / wire.md §2.6:
    /// `t = HMAC(ck, ikm)`, `o1 = HMAC(t, 0x01)`, `o2 = HMAC(t, o1 || 0x02)`, `o3 = HMAC(t, o2 || 0x03)`.
    static func hkdf(chainingKey: SecretBytes, ikm: UnsafeRawBufferPointer, outputs: Int) -> [SecretBytes] {
        precondition(outputs == 2 || outputs == 3)
        let temp = SecretBytes(count: hashLength) { (t: UnsafeMutableRawBufferPointer) in
            chainingKey.withUnsafeBytes { SHA256.hmac(key: $0, parts: [ikm], into: t) }
        }
        var result: [SecretBytes] = []
        temp.withUnsafeBytes { t in
            for i in 1...outputs {
                var counter = UInt8(i)
                let previous = result.last
                let o = SecretBytes(count: hashLength) { (o: UnsafeMutableRawBufferPointer) in
                    withUnsafeBytes(of: &counter) { c in
                        if let previous {
                            previous.withUnsafeBytes { SHA256.hmac(key: t, parts: [$0, c], into: o) }
                        } else {
                            SHA256.hmac(key: t, parts: [c], into: o)
                        }
                    }
                }
                result.append(o)
            }
        }
        return result
    }
}
