internal import CSodium
import AirlockCore

/// An Ed25519 public key: the raw 32 bytes, as carried in libp2p's PublicKey Data (wire.md §3.1).
public struct Ed25519PublicKey: Hashable, Sendable, CustomStringConvertible {
    public static let length = 32

    public let bytes: [UInt8]

    /// Checks the length only; whether the point is usable shows when a signature verifies.
    public init<C: Collection>(bytes: C) throws(CryptoError) where C.Element == UInt8 {
        guard bytes.count == Ed25519PublicKey.length else {
            throw CryptoError(.invalidKey, "Ed25519 public key must be 32 bytes, got \(bytes.count)")
        }
        self.bytes = Array(bytes)
    }

    /// `crypto_sign_verify_detached`: true only for a valid 64-byte signature of `message`.
    public func verify<S: Collection, M: Collection>(signature: S, message: M) -> Bool
        where S.Element == UInt8, M.Element == UInt8 {
        guard signature.count == Ed25519PrivateKey.signatureLength else { return false }
        Sodium.ensureInitialized()
        let sig = Array(signature), msg = Array(message)
        return crypto_sign_verify_detached(sig, msg, UInt64(msg.count), bytes) == 0
    }

    public var description: String { "Ed25519PublicKey(\(Hex.encode(bytes)))" }
}
