import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct RelayPeerTests {
    let v = try! RelayFixtures()

    @Test func roundTripWithAddresses() throws {
        let p = RelayPeer(id: v.peerA, addrs: [Multiaddr(ip4: (10, 0, 0, 1), port: 4001), try Multiaddr("/dns4/relay.example/tcp/443/wss")])
        #expect(try RelayPeer(decoding: p.encode()[...]) == p)
        #expect(RelayPeer(id: v.peerA).encode() == hex("0a26") + v.peerA.bytes)
    }

    @Test func skipsUndecodableAddresses() throws {
        // An address with an unsupported protocol (webtransport, 465) and plain junk are dropped.
        let good = Multiaddr(ip4: (1, 2, 3, 4), port: 5)
        let body = hex("0a26") + v.peerA.bytes + hex("1204 04010203") + hex("1203 d10300") + [0x12, UInt8(good.bytes.count)] + good.bytes
        #expect(try RelayPeer(decoding: body[...]) == RelayPeer(id: v.peerA, addrs: [good]))
    }

    @Test func hostileInput() {
        #expect(throws: DecodeError.missingField("Peer.id")) { try RelayPeer(decoding: hex("1202 0400")[...]) }
        #expect(throws: DecodeError.self) { try RelayPeer(decoding: hex("0a03 000200")[...]) }   // length mismatch inside the multihash
        #expect(throws: DecodeError.self) { try RelayPeer(decoding: hex("0a02 1301")[...]) }     // unsupported multihash
        #expect(throws: DecodeError.self) { try RelayPeer(decoding: hex("0826")[...]) }          // id with varint wire type
        #expect(throws: DecodeError.self) { try RelayPeer(decoding: (hex("0a26") + v.peerA.bytes.dropLast())[...]) }
    }
}
