import AirlockCore

/// The encrypted libp2p Noise channel after the handshake (wire.md §2.2): each message on the
/// wire is a 2-byte big-endian length then an AEAD ciphertext (empty associated data), at most
/// 65535 bytes, so at most 65519 bytes of plaintext per frame.
///
/// Not thread-safe: one owner (an event loop) drives it. A class, not a struct, so a copy can
/// never reuse a nonce. A failed decrypt, a malformed frame or nonce exhaustion ends the session:
/// every later call throws `.sessionClosed` (nonces are never retried, Noise rev 34 §5.1).
public final class NoiseTransport {
    /// The largest Noise message (wire.md §2.2, §8).
    public static let maxFrameLength = 65535
    /// AEAD tag length (ChaChaPoly, 16 bytes).
    public static let tagLength = NoiseCipherState.tagLength
    /// Largest plaintext per frame: 65535 − 16 (go chunks writes at this size).
    public static let maxPlaintextPerFrame = maxFrameLength - tagLength
    /// Bytes each frame adds: the 2-byte length and the tag.
    public static let frameOverhead = 2 + tagLength

    private var sender: NoiseCipherState
    private var receiver: NoiseCipherState
    private var failure: CryptoError?

    init(sender: NoiseCipherState, receiver: NoiseCipherState) {
        precondition(sender.hasKey && receiver.hasKey)
        self.sender = sender
        self.receiver = receiver
    }

    /// True once any call failed; the session must be torn down.
    public var isClosed: Bool { failure != nil }

    /// How many bytes `encrypt` appends for `plaintextCount` bytes of plaintext.
    public static func encryptedSize(plaintextCount: Int) -> Int {
        let frames = (plaintextCount + maxPlaintextPerFrame - 1) / maxPlaintextPerFrame
        return plaintextCount + frames * frameOverhead
    }

    /// Encrypts `plaintext` into frames of at most 65519 plaintext bytes, appended to `out`: the
    /// plaintext is copied once into `out` and sealed there in place. Zero bytes in, nothing out.
    /// On error `out` is left as it was and the session is closed.
    public func encrypt(_ plaintext: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) throws(CryptoError) {
        try checkOpen()
        guard plaintext.count > 0 else { return }
        let original = out.count
        out.reserveAdditional(NoiseTransport.encryptedSize(plaintextCount: plaintext.count))
        var offset = 0
        while offset < plaintext.count {
            let n = min(NoiseTransport.maxPlaintextPerFrame, plaintext.count - offset)
            let length = n + NoiseTransport.tagLength
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
            let start = out.count
            UnsafeRawBufferPointer(rebasing: plaintext[offset ..< offset + n]).withMemoryRebound(to: UInt8.self) {
                out.append(contentsOf: $0)  // one memcpy
            }
            out.append(contentsOf: NoiseTransport.zeroTag)
            let result: Result<Void, CryptoError> = out.withUnsafeMutableBytes { o in
                let p = o.baseAddress! + start
                return Result { () throws(CryptoError) in
                    try sender.encrypt(ad: NoiseTransport.noAD, plaintext: p, count: n, into: p)
                }
            }
            if case .failure(let error) = result {
                out.removeLast(out.count - original)
                failure = error
                throw error
            }
            offset += n
        }
    }

    /// Convenience: the frames for `plaintext`.
    public func encrypt(_ plaintext: [UInt8]) throws(CryptoError) -> [UInt8] {
        var out: [UInt8] = []
        let result: Result<Void, CryptoError> = plaintext.withUnsafeBytes { p in
            Result { () throws(CryptoError) in try encrypt(p, appendingTo: &out) }
        }
        try result.get()
        return out
    }

    /// Decrypts every complete frame at the start of `buffer` in place and hands each frame's
    /// plaintext to `body` (a view into `buffer`, valid only during that call; empty frames are
    /// not reported). Returns how many bytes were consumed: a trailing partial frame is left for
    /// the next call, once more bytes arrived behind it. Throws on the first bad frame, which
    /// closes the session; frames before it were already delivered.
    public func decrypt(inPlace buffer: UnsafeMutableRawBufferPointer,
                        _ body: (UnsafeRawBufferPointer) -> Void) throws(CryptoError) -> Int {
        try checkOpen()
        var offset = 0
        while buffer.count - offset >= 2 {
            let length = Int(buffer[offset]) << 8 | Int(buffer[offset + 1])
            guard buffer.count - offset - 2 >= length else { break }
            let frame = buffer.baseAddress! + offset + 2
            let n: Int
            do {
                n = try receiver.decrypt(ad: NoiseTransport.noAD, ciphertext: frame, count: length, into: frame)
            } catch {
                failure = error
                throw error
            }
            offset += 2 + length
            if n > 0 { body(UnsafeRawBufferPointer(start: frame, count: n)) }
        }
        return offset
    }

    /// Convenience: decrypts the complete frames in `buffer` (consuming them; a partial frame
    /// stays) and returns their plaintext joined. Copies once; the relay path uses `decrypt(inPlace:)`.
    public func decrypt(_ buffer: inout ByteBuffer) throws(CryptoError) -> [UInt8] {
        try checkOpen()
        let view = buffer.readableView
        var complete = 0
        while view.count - complete >= 2 {
            let i = view.startIndex + complete
            let length = Int(view[i]) << 8 | Int(view[i + 1])
            guard view.count - complete - 2 >= length else { break }
            complete += 2 + length
        }
        guard complete > 0 else { return [] }
        var work = Array(view.prefix(complete))
        var plaintext: [UInt8] = []
        plaintext.reserveCapacity(complete)
        let result: Result<Int, CryptoError> = work.withUnsafeMutableBytes { w in
            Result { () throws(CryptoError) in try decrypt(inPlace: w) { plaintext.append(contentsOf: $0) } }
        }
        _ = try result.get()
        buffer.skip(complete)
        return plaintext
    }

    /// Tests only: the two transport keys (never logged).
    var keysForTesting: (send: SecretBytes, receive: SecretBytes) { (sender.key!, receiver.key!) }

    /// Tests only: move both nonces (to reach the reserved value).
    func setNoncesForTesting(send: UInt64, receive: UInt64) {
        sender.setNonce(send)
        receiver.setNonce(receive)
    }

    private func checkOpen() throws(CryptoError) {
        if let failure { throw CryptoError(.sessionClosed, "Noise session closed after an earlier failure: \(failure.message)") }
    }

    private static let zeroTag = [UInt8](repeating: 0, count: tagLength)
    private static var noAD: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
}
