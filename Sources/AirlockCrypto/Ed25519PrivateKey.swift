internal import CSodium
import AirlockCore

/// An Ed25519 identity key (libsodium `crypto_sign_*`). The 64-byte libsodium secret key is
/// seed(32) || public(32), which is also libp2p's private key Data (wire.md §3.1).
public final class Ed25519PrivateKey: Sendable, CustomStringConvertible {
    public static let seedLength = 32
    public static let signatureLength = 64

    /// seed || public, in protected memory.
    private let secretKey: SecretBytes
    public let publicKey: Ed25519PublicKey

    /// A fresh key from the CSPRNG.
    public convenience init() {
        try! self.init(seed: SecretBytes.random(count: Ed25519PrivateKey.seedLength))
    }

    /// The key for a 32-byte seed (`crypto_sign_seed_keypair`).
    public init(seed: SecretBytes) throws(CryptoError) {
        guard seed.count == Ed25519PrivateKey.seedLength else {
            throw CryptoError(.invalidKey, "Ed25519 seed must be 32 bytes, got \(seed.count)")
        }
        Sodium.ensureInitialized()
        var pub = [UInt8](repeating: 0, count: Ed25519PublicKey.length)
        secretKey = SecretBytes(count: Int(crypto_sign_SECRETKEYBYTES), longLived: true) { (sk: UnsafeMutableRawBufferPointer) in
            seed.withUnsafeBytes { s in
                _ = crypto_sign_seed_keypair(&pub, sk.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                             s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        publicKey = try Ed25519PublicKey(bytes: pub)
    }

    public convenience init(seed: [UInt8]) throws(CryptoError) {
        try self.init(seed: SecretBytes(copying: seed))
    }

    /// From libp2p's private key Data: seed || public (64 bytes), or the old seed || public ||
    /// public (96 bytes) when both public copies agree. The stored public half must be the one the
    /// seed derives, or signatures would come out wrong; a mismatch is `.invalidKey`.
    public convenience init(libp2pData data: SecretBytes) throws(CryptoError) {
        let n = data.count
        guard n == 64 || n == 96 else {
            throw CryptoError(.invalidKey, "Ed25519 private key data must be 64 or 96 bytes, got \(n)")
        }
        let seed = data.withUnsafeBytes { SecretBytes(copying: $0.prefix(32)) }
        let stored = data.withUnsafeBytes { Array($0[32..<64]) }
        if n == 96 {
            let again = data.withUnsafeBytes { Array($0[64..<96]) }
            guard stored == again else { throw CryptoError(.invalidKey, "Ed25519 96-byte private key has two different public keys") }
        }
        try self.init(seed: seed)
        guard stored == publicKey.bytes else {
            throw CryptoError(.invalidKey, "Ed25519 private key's public half does not match its seed")
        }
    }

    /// The 32-byte seed, in protected memory.
    public var seed: SecretBytes { secretKey.withUnsafeBytes { SecretBytes(copying: $0.prefix(32)) } }

    /// libp2p's private key Data (seed || public, 64 bytes).
    public var libp2pData: SecretBytes { secretKey }

    /// Deterministic RFC 8032 signature over `message` (`crypto_sign_detached`), no pre-hash.
    public func sign<C: Collection>(_ message: C) -> [UInt8] where C.Element == UInt8 {
        let msg = Array(message)
        var sig = [UInt8](repeating: 0, count: Ed25519PrivateKey.signatureLength)
        secretKey.withUnsafeBytes { sk in
            _ = crypto_sign_detached(&sig, nil, msg, UInt64(msg.count), sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return sig
    }

    /// Prints the peer ID only.
    public var description: String { "Ed25519PrivateKey(\(PeerID(publicKey: publicKey)))" }
}
