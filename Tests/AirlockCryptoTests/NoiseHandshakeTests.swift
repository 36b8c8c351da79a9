import Testing
import AirlockCore
@testable import AirlockCrypto

/// The libp2p Noise handshake: the wire.md §2.8 fixture, round trips, hostile peers.
@Suite struct NoiseHandshakeTests {
    // The cacophony XX X25519 keys (wire.md §2.8).
    static let initStatic = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"
    static let initEphemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"
    static let respStatic = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"
    static let respEphemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"

    static let m1 = "0020ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
    static let m2 = "00c895ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b90b20f024c6abdc05d618c61c13a3fe07127982eb5ca7a8d583268130fc208700b9e65fbfc8768edd28b06edbfc39f84f2e977aba75fbc92b31498b0ac1ed723987b496be5a71f74e6491d26dbe2d2a550865854c9994f2b7019d879175f7026bb4a51a545695c6fc8650b1a1b7fd9adce5fa7e76ca98ebba16da1b6b68394b1b0e26abfe25060867"
    static let m3 = "00a8c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a86bef4d87936184dad8925f1fa4d272c614c3d6e0e8ecd41217ddfdf0afb41507a1be308a2142c5bd7aa4533305677b3e694b63076f9d2df0fe4d73b419771080a6cf96b373850176596856cd9886b5ccf7b92fd0b13c9d40153da17beeda35f1631e57da5fabbc42aaeea8ff1a68839842fe9190823c6eb09caae69bf6235cacf34eb8f9cdee101c"

    static func initiatorIdentity() throws -> Ed25519PrivateKey { try Ed25519PrivateKey(seed: hex(Ed25519PrivateKeyTests.specSeed)) }
    static func responderIdentity() throws -> Ed25519PrivateKey { try Ed25519PrivateKey(seed: [UInt8](repeating: 2, count: 32)) }

    static func fixturePair(expected: PeerID? = nil) throws -> (NoiseHandshake, NoiseHandshake) {
        let i = NoiseHandshake(role: .initiator(expectedPeer: expected), identity: try initiatorIdentity(),
                               staticKey: try X25519KeyPair(privateKeyBytes: hex(initStatic)),
                               ephemeralKey: try X25519KeyPair(privateKeyBytes: hex(initEphemeral)))
        let r = NoiseHandshake(role: .responder, identity: try responderIdentity(),
                               staticKey: try X25519KeyPair(privateKeyBytes: hex(respStatic)),
                               ephemeralKey: try X25519KeyPair(privateKeyBytes: hex(respEphemeral)))
        return (i, r)
    }

    func code(_ body: () throws -> Void) -> CryptoError.Code? {
        do { try body(); return nil } catch { return (error as? CryptoError)?.code }
    }

    @Test func emptyPrologueInitialHash() {
        var s = NoiseSymmetricState(protocolName: NoiseHandshake.protocolName)
        s.mixHash([UInt8]())
        #expect(Hex.encode(s.h) == "f3d15e6108ed9556171207baa58f97d29a13c6be40595166066e2e0958dc002d")
    }

    @Test func reproducesTheWireFixture() throws {
        let responderID = try PeerID("12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq")
        let (i, r) = try Self.fixturePair(expected: responderID)
        let m1 = try i.start()
        #expect(Hex.encode(m1) == Self.m1)
        #expect(try r.start().isEmpty)
        let s1 = try r.feed(m1)
        #expect(Hex.encode(s1.output) == Self.m2)
        #expect(s1.result == nil)
        let s2 = try i.feed(s1.output)
        #expect(Hex.encode(s2.output) == Self.m3)
        let ri = try #require(s2.result)
        let s3 = try r.feed(s2.output)
        #expect(s3.output.isEmpty)
        let rr = try #require(s3.result)

        #expect(ri.remotePeerID == responderID)
        #expect(rr.remotePeerID.description == "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq")
        #expect(rr.remotePublicKey == (try Self.initiatorIdentity()).publicKey)
        #expect(Hex.encode(ri.handshakeHash) == "41a8fda536be117f8700b25923beda66ac272a2e4ad45891f0286070ff6ad17e")
        #expect(rr.handshakeHash == ri.handshakeHash)
        #expect(ri.leftover.isEmpty && rr.leftover.isEmpty)

        let k1 = "3062fff068d0abd171b4b4603c5b7633bf5ee4e79da311370c2eba7f1ed6c69a"
        let k2 = "cbabb3f5e4529fc0e93efda9b4b70169270c04b05c5be25f71e9c55f7955c86a"
        #expect(Hex.encode(ri.transport.keysForTesting.send.unprotectedCopy()) == k1)
        #expect(Hex.encode(ri.transport.keysForTesting.receive.unprotectedCopy()) == k2)
        #expect(Hex.encode(rr.transport.keysForTesting.send.unprotectedCopy()) == k2)
        #expect(Hex.encode(rr.transport.keysForTesting.receive.unprotectedCopy()) == k1)

        let hello = Array("hello".utf8), world = Array("world".utf8)
        let f1 = try ri.transport.encrypt(hello)
        #expect(Hex.encode(f1) == "00151c40fc5d2d6a1c8becb87e6ca04de167d47d072e50")
        let f2 = try rr.transport.encrypt(world)
        #expect(Hex.encode(f2) == "0015a2783ed737936a25671b02812e0929b23f512ac52e")
        let f3 = try ri.transport.encrypt(hello)
        #expect(Hex.encode(f3) == "0015dfc5b8086c1995d077436680de010a84d189cbe3cf")
        var b = ByteBuffer(f1 + f3)
        #expect(try rr.transport.decrypt(&b) == hello + hello)
        var c = ByteBuffer(f2)
        #expect(try ri.transport.decrypt(&c) == world)
    }

    @Test func dripFedOneByteAtATime() throws {
        let (i, r) = try Self.fixturePair()
        let m1 = try i.start()
        _ = try r.start()
        var out: [UInt8] = []
        for byte in m1 { out += try r.feed([byte]).output }
        #expect(Hex.encode(out) == Self.m2)
        var m3: [UInt8] = []
        var initiatorResult: NoiseHandshakeResult?
        for byte in out {
            #expect(initiatorResult == nil)
            let step = try i.feed([byte])
            m3 += step.output
            initiatorResult = step.result
        }
        #expect(Hex.encode(m3) == Self.m3)
        var responderResult: NoiseHandshakeResult?
        for byte in m3 {
            #expect(responderResult == nil)
            responderResult = try r.feed([byte]).result
        }
        #expect(initiatorResult != nil && responderResult != nil)
    }

    @Test func randomKeysBothWaysWithLeftover() throws {
        let a = Ed25519PrivateKey(), b = Ed25519PrivateKey()
        let i = NoiseHandshake(role: .initiator(expectedPeer: b.publicKey.peerID), identity: a)
        let r = NoiseHandshake(role: .responder, identity: b)
        let m1 = try i.start()
        _ = try r.start()
        #expect(m1.count == 34)
        let m2 = try r.feed(m1).output
        #expect(m2.count == 202)  // 00 c8 + 200 (wire.md §2.3)
        let s = try i.feed(m2)
        #expect(s.output.count == 170)  // 00 a8 + 168
        let ri = try #require(s.result)
        // The initiator sends data right behind msg 3: the responder must hand it back.
        let early = try ri.transport.encrypt(Array("early".utf8))
        let rr = try #require(try r.feed(s.output + early).result)
        #expect(rr.leftover == early)
        var buf = ByteBuffer(rr.leftover)
        #expect(try rr.transport.decrypt(&buf) == Array("early".utf8))
        #expect(rr.remotePeerID == a.publicKey.peerID)
        #expect(ri.remotePeerID == b.publicKey.peerID)
        // Fresh static keys per handshake: a second run gives another hash.
        let i2 = NoiseHandshake(role: .initiator(expectedPeer: nil), identity: a)
        let r2 = NoiseHandshake(role: .responder, identity: b)
        _ = try r2.start()
        let s2 = try i2.feed(try r2.feed(try i2.start()).output)
        #expect(try #require(s2.result).handshakeHash != ri.handshakeHash)
    }

    @Test func peerIDMismatchIsRefused() throws {
        let other = Ed25519PrivateKey().publicKey.peerID
        let (i, r) = try Self.fixturePair(expected: other)
        _ = try r.start()
        let m2 = try r.feed(try i.start()).output
        #expect(code { _ = try i.feed(m2) } == .peerIDMismatch)
        // The handshake is over for good.
        #expect(code { _ = try i.feed([0]) } == .handshake)
    }

    @Test func oversizeAndUndersizeMessagesRefusedFromTheHeader() throws {
        let r = NoiseHandshake(role: .responder, identity: Ed25519PrivateKey())
        _ = try r.start()
        #expect(code { _ = try r.feed([0x10, 0x01]) } == .handshake)  // 4097 > cap, refused before the body
        let r2 = NoiseHandshake(role: .responder, identity: Ed25519PrivateKey())
        _ = try r2.start()
        #expect(code { _ = try r2.feed([0x00, 0x1f]) } == .handshake)  // msg 1 shorter than `e`
        let i = NoiseHandshake(role: .initiator(expectedPeer: nil), identity: Ed25519PrivateKey())
        _ = try i.start()
        #expect(code { _ = try i.feed([0x00, 0x40]) } == .handshake)  // msg 2 of 64 bytes cannot hold e, s, tag
        #expect(code { _ = try i.feed([0x00]) } == .handshake)  // and stays failed
    }

    @Test func misuseIsAnError() throws {
        let i = NoiseHandshake(role: .initiator(expectedPeer: nil), identity: Ed25519PrivateKey())
        #expect(code { _ = try i.feed([0]) } == .handshake)
        _ = try i.start()
        #expect(code { _ = try i.start() } == .handshake)
    }

    @Test func tamperedMessage2IsRefused() throws {
        let (i, r) = try Self.fixturePair()
        _ = try r.start()
        var m2 = try r.feed(try i.start()).output
        m2[150] ^= 0x01
        #expect(code { _ = try i.feed(m2) } == .decryptFailed)
    }

    // MARK: hostile responders built directly on the Noise engine

    /// Plays the responder by hand so the test controls msg 2's payload and static key.
    struct ManualResponder {
        var state: NoiseHandshakeState
        let staticKey = X25519KeyPair.generate()
        init() throws { state = try NoiseHandshakeState(protocolName: NoiseHandshake.protocolName, initiator: false, s: staticKey) }
        mutating func answer(_ m1: [UInt8], payload: (X25519KeyPair) -> [UInt8]) throws -> [UInt8] {
            _ = try state.readMessage(m1.dropFirst(2))
            return NoiseHandshake.frame(try state.writeMessage(payload: payload(staticKey)))
        }
    }

    func runInitiator(expect expected: PeerID? = nil, payload: (X25519KeyPair) -> [UInt8]) throws -> NoiseHandshake.Step {
        let i = NoiseHandshake(role: .initiator(expectedPeer: expected), identity: Ed25519PrivateKey())
        var responder = try ManualResponder()
        let m2 = try responder.answer(try i.start(), payload: payload)
        return try i.feed(m2)
    }

    @Test func signatureOverAnotherStaticKeyIsRefused() {
        let id = Ed25519PrivateKey()
        #expect(code {
            _ = try runInitiator { _ in NoiseHandshakePayload(identity: id, staticPublicKey: X25519KeyPair.generate().publicKey).encoded }
        } == .badSignature)
        #expect(code {
            _ = try runInitiator { s in
                var p = NoiseHandshakePayload(identity: id, staticPublicKey: s.publicKey)
                p.identitySignature[0] ^= 1
                return p.encoded
            }
        } == .badSignature)
    }

    @Test func extensionsAndUnknownFieldsAreTolerated() throws {
        let id = Ed25519PrivateKey()
        let step = try runInitiator(expect: id.publicKey.peerID) { s in
            var p = NoiseHandshakePayload(identity: id, staticPublicKey: s.publicKey)
            var ext = ProtoWriter()
            ext.writeString(field: 2, "/yamux/1.0.0")
            ext.writeBytes(field: 1, [1, 2, 3])
            ext.writeVarint(field: 1500, 7)
            p.extensions = ext.bytes
            var bytes = p.encoded
            var extra = ProtoWriter()
            extra.writeVarint(field: 9, 1)
            extra.writeBytes(field: 10, [9, 9])
            bytes += extra.bytes
            return bytes
        }
        #expect(try #require(step.result).remotePeerID == id.publicKey.peerID)
    }

    @Test func payloadProblemsAreRefused() {
        let id = Ed25519PrivateKey()
        // No signature.
        #expect(code { _ = try runInitiator { _ in ProtoWriter().bytes } } == .malformed)
        #expect(code {
            _ = try runInitiator { _ in var w = ProtoWriter(); w.writeBytes(field: 1, id.publicKey.protobuf); return w.bytes }
        } == .malformed)
        // A secp256k1 identity is not supported.
        #expect(code {
            _ = try runInitiator { s in
                NoiseHandshakePayload(identityKey: hex(KeyProtobufTests.secp256k1Public), identitySignature: [UInt8](repeating: 1, count: 70)).encoded
            }
        } == .unsupportedKeyType)
        // Junk payload.
        #expect(code { _ = try runInitiator { _ in [0xff, 0xff, 0xff] } } == .malformed)
    }

    @Test func message1PayloadIsIgnored() throws {
        // A go-style initiator that puts data in msg 1 (wire.md §2.3): the responder carries on.
        let b = Ed25519PrivateKey()
        let r = NoiseHandshake(role: .responder, identity: b)
        _ = try r.start()
        var initiator = try NoiseHandshakeState(protocolName: NoiseHandshake.protocolName, initiator: true, s: X25519KeyPair.generate())
        let m1 = NoiseHandshake.frame(try initiator.writeMessage(payload: Array("early data".utf8)))
        let m2 = try r.feed(m1).output
        #expect(m2.count == 202)
        let payload = try initiator.readMessage(m2.dropFirst(2))
        #expect(try NoiseHandshakePayload(decoding: payload).verifiedIdentity(remoteStatic: initiator.rs!) == b.publicKey)
    }
}
