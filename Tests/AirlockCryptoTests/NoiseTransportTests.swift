import Testing
import AirlockCore
@testable import AirlockCrypto

@Suite struct NoiseTransportTests {
    /// A connected pair (a sends to b) over one key, as after a handshake.
    static func pair() -> (NoiseTransport, NoiseTransport) {
        let k1 = SecretBytes.random(count: 32), k2 = SecretBytes.random(count: 32)
        let a = NoiseTransport(sender: NoiseCipherState(key: k1), receiver: NoiseCipherState(key: k2))
        let b = NoiseTransport(sender: NoiseCipherState(key: k2), receiver: NoiseCipherState(key: k1))
        return (a, b)
    }

    func code(_ body: () throws -> Void) -> CryptoError.Code? {
        do { try body(); return nil } catch { return (error as? CryptoError)?.code }
    }

    @Test func oneMebibyteRoundTripInPlace() throws {
        let (a, b) = Self.pair()
        let data = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var wire: [UInt8] = [0xaa]  // appends after existing bytes
        try data.withUnsafeBytes { try a.encrypt($0, appendingTo: &wire) }
        let frames = (data.count + 65518) / 65519
        #expect(wire.count == 1 + data.count + frames * 18)
        #expect(wire.count - 1 == NoiseTransport.encryptedSize(plaintextCount: data.count))
        wire.removeFirst()
        // Every frame is at most 65535 bytes on the wire.
        var offset = 0, count = 0
        while offset < wire.count {
            let len = Int(wire[offset]) << 8 | Int(wire[offset + 1])
            #expect(len <= 65535 && len >= 16)
            offset += 2 + len; count += 1
        }
        #expect(count == frames)
        var received: [UInt8] = []
        var deliveries = 0
        let consumed = try wire.withUnsafeMutableBytes { raw in
            try b.decrypt(inPlace: raw) { received.append(contentsOf: $0); deliveries += 1 }
        }
        #expect(consumed == wire.count)
        #expect(deliveries == frames)
        #expect(received == data)
    }

    @Test func partialFramesStayForTheNextCall() throws {
        let (a, b) = Self.pair()
        let wire = try a.encrypt(Array("first".utf8)) + a.encrypt(Array("second".utf8))
        var buf = ByteBuffer()
        var got: [UInt8] = []
        for byte in wire {
            buf.write(byte)
            got += try b.decrypt(&buf)
        }
        #expect(got == Array("firstsecond".utf8))
        #expect(buf.isEmpty)
        // In place: a buffer ending mid-frame consumes only the complete frame.
        let more = try a.encrypt(Array("third".utf8)) + a.encrypt(Array("fourth".utf8))
        var partial = Array(more.dropLast(3))
        var out: [UInt8] = []
        let consumed = try partial.withUnsafeMutableBytes { try b.decrypt(inPlace: $0) { out += $0 } }
        #expect(out == Array("third".utf8))
        #expect(consumed == 2 + 5 + 16)
        var rest = Array(more[consumed...])
        out = []
        #expect(try rest.withUnsafeMutableBytes { try b.decrypt(inPlace: $0) { out += $0 } } == rest.count)
        #expect(out == Array("fourth".utf8))
    }

    @Test func badTagEndsTheSession() throws {
        let (a, b) = Self.pair()
        let good = try a.encrypt(Array("one".utf8))
        var bad = try a.encrypt(Array("two".utf8))
        bad[4] ^= 0x80
        let next = try a.encrypt(Array("three".utf8))
        var delivered: [UInt8] = []
        var wire = good + bad + next
        #expect(code { _ = try wire.withUnsafeMutableBytes { try b.decrypt(inPlace: $0) { delivered += $0 } } } == .decryptFailed)
        #expect(delivered == Array("one".utf8))
        #expect(b.isClosed)
        // Never retried, even with the right bytes; and the send side is closed too.
        var again = ByteBuffer(next)
        #expect(code { _ = try b.decrypt(&again) } == .sessionClosed)
        #expect(code { _ = try b.encrypt([1]) } == .sessionClosed)
        #expect(again.readableBytes == next.count)
    }

    @Test func frameShorterThanATagEndsTheSession() throws {
        let (_, b) = Self.pair()
        var buf = ByteBuffer([0x00, 0x05, 1, 2, 3, 4, 5])
        #expect(code { _ = try b.decrypt(&buf) } == .decryptFailed)
        #expect(b.isClosed)
    }

    @Test func emptyInputsAndEmptyFrames() throws {
        let (a, b) = Self.pair()
        #expect(try a.encrypt([]).isEmpty)
        var buf = ByteBuffer()
        #expect(try b.decrypt(&buf).isEmpty)
        // A zero-length plaintext frame from the peer (`00 10` + tag) is legal and delivers nothing.
        var cs = NoiseCipherState(key: a.keysForTesting.send)
        let empty = try cs.encryptWithAd([], [])
        var frames = ByteBuffer([0x00, 0x10] + empty)
        #expect(try b.decrypt(&frames).isEmpty)
        #expect(frames.isEmpty)
    }

    @Test func exactFrameBoundaries() throws {
        let (a, b) = Self.pair()
        for size in [65518, 65519, 65520, 2 * 65519] {
            let data = [UInt8](repeating: 0x5a, count: size)
            let wire = try a.encrypt(data)
            #expect(wire.count == NoiseTransport.encryptedSize(plaintextCount: size))
            #expect(Int(wire[0]) << 8 | Int(wire[1]) == min(size, 65519) + 16)
            var buf = ByteBuffer(wire)
            #expect(try b.decrypt(&buf) == data)
        }
    }

    @Test func nonceExhaustionIsAnError() throws {
        let (a, b) = Self.pair()
        a.setNoncesForTesting(send: UInt64.max - 1, receive: 0)
        b.setNoncesForTesting(send: 0, receive: UInt64.max - 1)
        var buf = ByteBuffer(try a.encrypt([1, 2]))
        #expect(try b.decrypt(&buf) == [1, 2])
        var out: [UInt8] = [9]
        #expect(code { try [UInt8]([3]).withUnsafeBytes { try a.encrypt($0, appendingTo: &out) } } == .nonceExhausted)
        #expect(out == [9])  // nothing half-written
        #expect(a.isClosed)
        #expect(code { _ = try a.encrypt([1]) } == .sessionClosed)
    }
}
