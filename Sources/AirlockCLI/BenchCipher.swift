import AirlockCore
import AirlockCrypto

/// The ceiling: how fast one core seals and opens Noise transport frames (libsodium
/// ChaCha20-Poly1305 IETF, the relay's only cipher) through `NoiseTransport`, as the relay calls it.
///
/// Messages are one full Noise frame, 65 519 plaintext bytes (the 64 KiB the relay's read buffer
/// and yamux hand over, less the tag). Encrypt includes the one copy `NoiseTransport.encrypt`
/// makes into its output; decrypt is in place, as on the relay's read path. Times are this
/// thread's CPU time, so another process on the other core does not distort them.
enum BenchCipher {
    struct Measurement: Sendable {
        /// Plaintext bytes sealed (opened) per CPU second.
        var encryptBytesPerSecond: Double
        var decryptBytesPerSecond: Double
        var encryptSecondsPerGiB: Double { BenchReport.gib / encryptBytesPerSecond }
        var decryptSecondsPerGiB: Double { BenchReport.gib / decryptBytesPerSecond }
    }

    /// Frames decrypted per timed batch (4 MiB of ciphertext, made fresh for each batch because
    /// decryption in place consumes it).
    static let framesPerBatch = 64

    /// Runs each direction for at least `seconds` of CPU time.
    static func measure(seconds: Double) throws -> Measurement {
        var (sender, receiver) = try transports()
        let size = NoiseTransport.maxPlaintextPerFrame
        let plaintext = [UInt8](repeating: 0x5a, count: size)
        var out: [UInt8] = []
        out.reserveCapacity(NoiseTransport.encryptedSize(plaintextCount: size * framesPerBatch))

        // Encrypt: one frame per call into a reused buffer.
        var sealed = 0
        var cpu = 0.0
        while cpu < seconds {
            let t0 = BenchProbe.threadCPUSeconds()
            for _ in 0..<framesPerBatch {
                out.removeAll(keepingCapacity: true)
                try seal(plaintext, sender, &out)
            }
            cpu += BenchProbe.threadCPUSeconds() - t0
            sealed += size * framesPerBatch
        }
        let encryptRate = Double(sealed) / cpu

        // Decrypt: a batch of frames sealed untimed, then opened in place, timed. Fresh keys:
        // the receiver's nonce must start where the sender's does.
        (sender, receiver) = try transports()
        var opened = 0
        cpu = 0
        while cpu < seconds {
            out.removeAll(keepingCapacity: true)
            for _ in 0..<framesPerBatch {
                try seal(plaintext, sender, &out)
            }
            let t0 = BenchProbe.threadCPUSeconds()
            var got = 0
            let result: Result<Int, CryptoError> = out.withUnsafeMutableBytes { w in
                Result { () throws(CryptoError) in try receiver.decrypt(inPlace: w) { got += $0.count } }
            }
            let consumed = try result.get()
            cpu += BenchProbe.threadCPUSeconds() - t0
            guard consumed == out.count, got == size * framesPerBatch else {
                throw CommandFailure("bench: decrypt consumed \(consumed) of \(out.count) bytes")
            }
            opened += got
        }
        return Measurement(encryptBytesPerSecond: encryptRate, decryptBytesPerSecond: Double(opened) / cpu)
    }

    /// Appends the frame(s) for `plaintext` to `out`.
    private static func seal(_ plaintext: [UInt8], _ t: NoiseTransport, _ out: inout [UInt8]) throws(CryptoError) {
        let result: Result<Void, CryptoError> = plaintext.withUnsafeBytes { p in
            Result { () throws(CryptoError) in try t.encrypt(p, appendingTo: &out) }
        }
        try result.get()
    }

    /// A sending and a receiving transport with matching keys, from a Noise XX handshake run in memory.
    static func transports() throws -> (NoiseTransport, NoiseTransport) {
        let initiator = NoiseHandshake(role: .initiator(expectedPeer: nil), identity: Ed25519PrivateKey())
        let responder = NoiseHandshake(role: .responder, identity: Ed25519PrivateKey())
        let m1 = try initiator.start()
        _ = try responder.start()
        let m2 = try responder.feed(m1)
        let m3 = try initiator.feed(m2.output)
        let end = try responder.feed(m3.output)
        guard let a = m3.result, let b = end.result else {
            throw CommandFailure("bench: the in-memory Noise handshake did not finish")
        }
        return (a.transport, b.transport)
    }
}
