internal import CSodium

/// An X25519 key pair (Noise DH, Noise rev 34 §4.1; wire.md §2.7). The private half is a
/// `SecretBytes`; libsodium clamps scalars internally, so any 32 random bytes are a valid key.
public struct X25519KeyPair: Sendable {
    public static let keyLength = 32

    public let privateKey: SecretBytes
    public let publicKey: [UInt8]

    /// A fresh key pair from the CSPRNG.
    public static func generate() -> X25519KeyPair {
        try! X25519KeyPair(privateKey: SecretBytes.random(count: keyLength))
    }

    /// The key pair for a given private scalar (`crypto_scalarmult_base`).
    public init(privateKey: SecretBytes) throws(CryptoError) {
        guard privateKey.count == X25519KeyPair.keyLength else {
            throw CryptoError(.invalidKey, "X25519 private key must be 32 bytes, got \(privateKey.count)")
        }
        Sodium.ensureInitialized()
        var pub = [UInt8](repeating: 0, count: X25519KeyPair.keyLength)
        privateKey.withUnsafeBytes { sk in
            _ = crypto_scalarmult_base(&pub, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        self.privateKey = privateKey
        self.publicKey = pub
    }

    /// Convenience for fixtures: copies the scalar into protected memory.
    public init(privateKeyBytes: [UInt8]) throws(CryptoError) {
        try self.init(privateKey: SecretBytes(copying: privateKeyBytes))
    }

    /// DH(self, remote): `crypto_scalarmult`. An all-zero result (the remote sent a low-order
    /// point) is refused, as Noise rev 34 §12.1 allows.
    public func dh(_ remotePublic: [UInt8]) throws(CryptoError) -> SecretBytes {
        guard remotePublic.count == X25519KeyPair.keyLength else {
            throw CryptoError(.invalidKey, "X25519 public key must be 32 bytes, got \(remotePublic.count)")
        }
        return try SecretBytes(count: X25519KeyPair.keyLength) { (out: UnsafeMutableRawBufferPointer) throws(CryptoError) in
            let rc = privateKey.withUnsafeBytes { sk in
                crypto_scalarmult(out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                  sk.baseAddress!.assumingMemoryBound(to: UInt8.self), remotePublic)
            }
            guard rc == 0 else { throw CryptoError(.weakKeyExchange, "X25519 produced an all-zero shared secret") }
        }
    }
}
