import AirlockCore

/// The one error type of AirlockCrypto: a code to branch on and a message for people.
///
/// Messages never contain key material or plaintext.
public struct CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// Peer or file input that does not parse (see the message for what and where).
        case malformed
        /// A libp2p key of a type we do not use (RSA, Secp256k1, ECDSA, or an unknown number).
        case unsupportedKeyType
        /// Key bytes of the right shape that are not a usable key (wrong length, mismatched halves).
        case invalidKey
        /// A signature that does not verify.
        case badSignature
        /// The remote proved a different identity than the one dialled.
        case peerIDMismatch
        /// A Diffie-Hellman result of all zeros (low-order point).
        case weakKeyExchange
        /// Handshake misuse or a message that breaks the handshake (size, order).
        case handshake
        /// An AEAD tag did not verify. The session is over.
        case decryptFailed
        /// The 64-bit nonce ran out (2^64-1 is reserved, Noise rev 34 §5.1).
        case nonceExhausted
        /// The transport failed earlier and refuses every later call.
        case sessionClosed
        /// A key file refused or unreadable (mode, format, I/O).
        case keyFile
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) { self.code = code; self.message = message }

    /// Wraps a decoder error from peer input.
    static func malformed(_ what: String, _ error: DecodeError) -> CryptoError {
        CryptoError(.malformed, "\(what): \(error)")
    }

    public var description: String { message }
}
