/// Noise HandshakeState (Noise rev 34 §5.3) for `Noise_*_25519_ChaChaPoly_SHA256`: runs any
/// pattern of `NoisePattern` token by token. Knows nothing of libp2p; `NoiseHandshake` drives it.
///
/// Any thrown error ends the handshake: the state is partly mixed and must be dropped.
struct NoiseHandshakeState: Sendable {
    let pattern: NoisePattern
    let isInitiator: Bool
    private var symmetric: NoiseSymmetricState
    private(set) var s: X25519KeyPair?
    private(set) var e: X25519KeyPair?
    private(set) var rs: [UInt8]?
    private(set) var re: [UInt8]?
    /// An ephemeral key to use for the next `e` token instead of a fresh one (test vectors only).
    private var presetEphemeral: X25519KeyPair?
    private(set) var messageIndex = 0
    private var failed = false

    /// Initialize(): mixes the prologue and the pre-message public keys (initiator's first).
    /// `s` is our static pair, `rs` the remote static key known in advance; `ephemeral` pins the
    /// next ephemeral key for known-answer tests.
    init(protocolName: String, initiator: Bool, prologue: [UInt8] = [], s: X25519KeyPair? = nil,
         rs: [UInt8]? = nil, ephemeral: X25519KeyPair? = nil) throws(CryptoError) {
        guard let pattern = NoisePattern.forProtocolName(protocolName) else {
            throw CryptoError(.handshake, "unsupported Noise protocol \(protocolName)")
        }
        self.pattern = pattern
        isInitiator = initiator
        symmetric = NoiseSymmetricState(protocolName: protocolName)
        self.s = s
        self.rs = rs
        presetEphemeral = ephemeral
        symmetric.mixHash(prologue)
        for (tokens, ours) in [(pattern.initiatorPreMessage, initiator), (pattern.responderPreMessage, !initiator)] {
            for token in tokens {
                // Only `s` pre-messages occur in the supported patterns.
                guard token == .s else { throw CryptoError(.handshake, "pre-message token \(token) not supported") }
                if ours {
                    guard let s else { throw CryptoError(.handshake, "pattern \(pattern.name) needs our static key") }
                    symmetric.mixHash(s.publicKey)
                } else {
                    guard let rs, rs.count == X25519KeyPair.keyLength else {
                        throw CryptoError(.handshake, "pattern \(pattern.name) needs the remote static key")
                    }
                    symmetric.mixHash(rs)
                }
            }
        }
    }

    var isFinished: Bool { messageIndex >= pattern.messages.count }
    /// Whose turn it is: true when we write the next message.
    var isOurTurn: Bool { (messageIndex % 2 == 0) == isInitiator }
    /// GetHandshakeHash(): the channel binding value, final once the handshake is finished.
    var handshakeHash: [UInt8] { symmetric.h }

    /// WriteMessage(payload): processes our next token list and appends the (encrypted) payload.
    mutating func writeMessage(payload: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard !failed, !isFinished, isOurTurn else { throw CryptoError(.handshake, "Noise handshake: not our turn to write") }
        failed = true
        var out: [UInt8] = []
        for token in pattern.messages[messageIndex] {
            switch token {
            case .e:
                let pair = presetEphemeral ?? X25519KeyPair.generate()
                presetEphemeral = nil
                e = pair
                out += pair.publicKey
                symmetric.mixHash(pair.publicKey)
            case .s:
                guard let s else { throw CryptoError(.handshake, "pattern \(pattern.name) needs our static key") }
                out += try symmetric.encryptAndHash(s.publicKey)
            default:
                try mixDH(token)
            }
        }
        out += try symmetric.encryptAndHash(payload)
        messageIndex += 1
        failed = false
        return out
    }

    /// ReadMessage(message): processes the remote's next token list and returns the payload.
    /// Remote keys that are too short, a bad tag or a low-order key throw.
    mutating func readMessage(_ message: ArraySlice<UInt8>) throws(CryptoError) -> [UInt8] {
        guard !failed, !isFinished, !isOurTurn else { throw CryptoError(.handshake, "Noise handshake: not our turn to read") }
        failed = true
        var rest = message
        func take(_ n: Int) throws(CryptoError) -> ArraySlice<UInt8> {
            guard rest.count >= n else { throw CryptoError(.handshake, "Noise handshake message too short") }
            defer { rest = rest.dropFirst(n) }
            return rest.prefix(n)
        }
        for token in pattern.messages[messageIndex] {
            switch token {
            case .e:
                let key = Array(try take(X25519KeyPair.keyLength))
                re = key
                symmetric.mixHash(key)
            case .s:
                let n = X25519KeyPair.keyLength + (symmetric.cipher.hasKey ? NoiseCipherState.tagLength : 0)
                rs = try symmetric.decryptAndHash(try take(n))
            default:
                try mixDH(token)
            }
        }
        let payload = try symmetric.decryptAndHash(rest)
        messageIndex += 1
        failed = false
        return payload
    }

    /// Split(): the two transport CipherStates (initiator→responder, responder→initiator).
    func split() -> (NoiseCipherState, NoiseCipherState) {
        precondition(isFinished, "split before the handshake finished")
        return symmetric.split()
    }

    /// ee, es, se, ss: which local and remote key each token pairs depends on our role (§7.1).
    private mutating func mixDH(_ token: NoisePattern.Token) throws(CryptoError) {
        let localIsEphemeral: Bool, remoteIsEphemeral: Bool
        switch token {
        case .ee: (localIsEphemeral, remoteIsEphemeral) = (true, true)
        case .ss: (localIsEphemeral, remoteIsEphemeral) = (false, false)
        case .es: (localIsEphemeral, remoteIsEphemeral) = isInitiator ? (true, false) : (false, true)
        case .se: (localIsEphemeral, remoteIsEphemeral) = isInitiator ? (false, true) : (true, false)
        case .e, .s: preconditionFailure("not a DH token")
        }
        guard let local = localIsEphemeral ? e : s, let remote = remoteIsEphemeral ? re : rs else {
            throw CryptoError(.handshake, "Noise token \(token.rawValue) without the keys it needs")
        }
        symmetric.mixKey(try local.dh(remote))
    }
}
