import AirlockCore

/// What a finished libp2p Noise handshake yields.
public struct NoiseHandshakeResult {
    /// The peer ID proven by the remote's signed payload.
    public let remotePeerID: PeerID
    public let remotePublicKey: Ed25519PublicKey
    /// The encrypted channel, keyed for our role.
    public let transport: NoiseTransport
    /// Bytes received after the last handshake frame: they belong to the next layer (already
    /// Noise transport frames) and must be fed to `transport` before anything read later.
    public let leftover: [UInt8]
    /// The Noise handshake hash (channel binding).
    public let handshakeHash: [UInt8]
}

/// The libp2p `/noise` handshake, sans I/O (wire.md §2): `Noise_XX_25519_ChaChaPoly_SHA256`
/// with an empty prologue, each message framed with a 2-byte big-endian length.
///
/// Use: `start()` once (the initiator's msg 1; nothing for the responder), then `feed` every
/// received byte and send what each step returns, until a step carries a result. Bytes may
/// arrive in any split. Any error ends the handshake; later calls throw `.handshake`.
///
/// A fresh X25519 static key is made per handshake (never persisted, wire.md §2.4). We do not
/// send `stream_muxers`; received extensions and a msg-1 payload are ignored (wire.md §2.3, §2.5).
public final class NoiseHandshake {
    public enum Role: Sendable {
        /// Dialer. With `expectedPeer`, a different proven identity fails with `.peerIDMismatch`.
        case initiator(expectedPeer: PeerID?)
        /// Listener: accepts any identity.
        case responder
    }

    public struct Step {
        /// Bytes to write to the peer (a whole frame, or empty).
        public var output: [UInt8]
        /// Set once the handshake finished.
        public var result: NoiseHandshakeResult?
    }

    public static let protocolID = "/noise"
    static let protocolName = "Noise_XX_25519_ChaChaPoly_SHA256"
    /// Handshake messages carry keys, a key protobuf, a signature and small extensions: far
    /// below 4 KiB. Larger lengths are refused as soon as their header arrives.
    public static let maxHandshakeMessageLength = 4096
    /// Shortest plausible message per step: msg 1 `e` (32); msg 2 `e`, ENC(s), tag (32+48+16);
    /// msg 3 ENC(s), tag (48+16).
    static let minimumMessageLength = [32, 96, 64]

    private let identity: Ed25519PrivateKey
    private let role: Role
    private var state: NoiseHandshakeState
    private let staticKey: X25519KeyPair
    private var inbox = ByteBuffer()
    private var started = false
    private var finished = false
    private var failed = false

    public convenience init(role: Role, identity: Ed25519PrivateKey) {
        self.init(role: role, identity: identity, staticKey: .generate(), ephemeralKey: nil)
    }

    /// Fixed X25519 keys make the handshake reproducible (known-answer tests only).
    init(role: Role, identity: Ed25519PrivateKey, staticKey: X25519KeyPair, ephemeralKey: X25519KeyPair?) {
        self.identity = identity
        self.role = role
        self.staticKey = staticKey
        var isInitiator = false
        if case .initiator = role { isInitiator = true }
        // Cannot fail: XX has no pre-messages and the name is one we support.
        state = try! NoiseHandshakeState(protocolName: NoiseHandshake.protocolName, initiator: isInitiator,
                                         prologue: [], s: staticKey, ephemeral: ephemeralKey)
    }

    /// Call once before feeding. The initiator gets msg 1 to send; the responder gets nothing.
    public func start() throws(CryptoError) -> [UInt8] {
        guard !started else { throw CryptoError(.handshake, "Noise handshake started twice") }
        started = true
        guard state.isInitiator else { return [] }
        // The initiator sends no libp2p data in msg 1 (wire.md §2.3).
        return try guarded { () throws(CryptoError) in NoiseHandshake.frame(try state.writeMessage(payload: [])) }
    }

    /// Feeds received bytes; returns what to send and, at the end, the result.
    public func feed<C: Collection>(_ bytes: C) throws(CryptoError) -> Step where C.Element == UInt8 {
        guard started else { throw CryptoError(.handshake, "Noise handshake fed before start()") }
        guard !finished else { throw CryptoError(.handshake, "Noise handshake already finished") }
        inbox.write(bytes)
        return try guarded { () throws(CryptoError) in try process() }
    }

    private func process() throws(CryptoError) -> Step {
        var output: [UInt8] = []
        var remote: Ed25519PublicKey?
        while !state.isFinished, !state.isOurTurn, let length = inbox.peekUInt16() {
            let index = state.messageIndex
            guard length <= NoiseHandshake.maxHandshakeMessageLength else {
                throw CryptoError(.handshake, "Noise handshake message \(index + 1) of \(length) bytes exceeds cap of \(NoiseHandshake.maxHandshakeMessageLength)")
            }
            guard length >= NoiseHandshake.minimumMessageLength[index] else {
                throw CryptoError(.handshake, "Noise handshake message \(index + 1) of \(length) bytes is too short")
            }
            guard inbox.readableBytes >= 2 + length else { break }
            inbox.skip(2)
            let message = inbox.readBytes(count: length)!
            let payload = try state.readMessage(message[...])
            if index > 0 {
                // msg 2 (responder's identity) or msg 3 (initiator's); msg 1's payload is ignored.
                guard let rs = state.rs else { throw CryptoError(.handshake, "Noise handshake: no remote static key") }
                let key = try NoiseHandshakePayload(decoding: payload).verifiedIdentity(remoteStatic: rs)
                if case .initiator(let expected?) = role, PeerID(publicKey: key) != expected {
                    throw CryptoError(.peerIDMismatch, "Noise handshake: dialled \(expected) but the remote proved \(PeerID(publicKey: key))")
                }
                remote = key
            }
            if !state.isFinished {
                let ours = NoiseHandshakePayload(identity: identity, staticPublicKey: staticKey.publicKey)
                output += NoiseHandshake.frame(try state.writeMessage(payload: ours.encoded))
            }
        }
        guard state.isFinished, let remote else { return Step(output: output, result: nil) }
        finished = true
        let (c1, c2) = state.split()
        // k1 protects initiator→responder traffic (wire.md §2.6).
        let transport = state.isInitiator ? NoiseTransport(sender: c1, receiver: c2) : NoiseTransport(sender: c2, receiver: c1)
        let result = NoiseHandshakeResult(remotePeerID: PeerID(publicKey: remote), remotePublicKey: remote,
                                          transport: transport, leftover: inbox.readAll(), handshakeHash: state.handshakeHash)
        return Step(output: output, result: result)
    }

    /// Runs `body`, marking the handshake failed if it throws.
    private func guarded<R>(_ body: () throws(CryptoError) -> R) throws(CryptoError) -> R {
        guard !failed else { throw CryptoError(.handshake, "Noise handshake already failed") }
        do {
            return try body()
        } catch {
            failed = true
            throw error
        }
    }

    static func frame(_ message: [UInt8]) -> [UInt8] {
        precondition(message.count <= NoiseTransport.maxFrameLength)
        return [UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message
    }
}

private extension ByteBuffer {
    func peekUInt16() -> Int? {
        guard let hi = peek(at: 0), let lo = peek(at: 1) else { return nil }
        return Int(hi) << 8 | Int(lo)
    }
}
