import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct IdentifyMessageTests {
    // Ed25519 PublicKey protobuf of the spec key (wire.md §3.1): 08 01 12 20 <32>.
    let publicKey = hex("080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")
    let relay = try! PeerID("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq")

    var sample: IdentifyMessage {
        IdentifyMessage(publicKey: publicKey,
                        listenAddrs: [Multiaddr(ip4: (127, 0, 0, 1), port: 4001), try! Multiaddr("/ip6/::1/tcp/4001")],
                        protocols: [ProtocolID.hop, ProtocolID.identify, ProtocolID.ping],
                        observedAddr: Multiaddr(ip4: (10, 1, 2, 3), port: 53000),
                        protocolVersion: "ipfs/0.1.0", agentVersion: "airlock/0.1",
                        signedPeerRecord: [0x0a, 0x00])
    }

    @Test func knownEncoding() {
        let m = IdentifyMessage(publicKey: publicKey, listenAddrs: [Multiaddr(ip4: (127, 0, 0, 1), port: 4001)],
                                protocols: [ProtocolID.ping], observedAddr: Multiaddr(ip4: (10, 0, 0, 2), port: 1),
                                agentVersion: "a")
        let expected = hex("0a24") + publicKey + hex("1208 047f000001060fa1") + [0x1a, 0x10] + Array(ProtocolID.ping.utf8)
            + hex("2208 040a000002060001") + hex("3201 61")
        #expect(m.encode() == expected)
    }

    @Test func roundTripWholeAndDripFed() throws {
        let wire = sample.framed()
        var buf = ByteBuffer(wire)
        #expect(try IdentifyMessage.read(from: &buf) == sample)
        #expect(try dripFeed(wire, IdentifyMessage.read) == sample)
    }

    @Test func skipsUnknownFieldsAndBadAddresses() throws {
        // field 7 (unknown), an undecodable listen address, an undecodable observed address.
        let body = hex("3a03 010203") + hex("1202 0500") + hex("2203 d10300") + hex("0a02 0801") + hex("48 01")
        let m = try IdentifyMessage(decoding: body[...])
        #expect(m == IdentifyMessage(publicKey: [0x08, 0x01]))
        #expect(try IdentifyMessage(decoding: [][...]) == IdentifyMessage())
    }

    @Test func hostileInput() throws {
        #expect(throws: DecodeError.invalid("protobuf string is not UTF-8")) { try IdentifyMessage(decoding: hex("1a01 ff")[...]) }
        #expect(throws: DecodeError.self) { try IdentifyMessage(decoding: hex("0801")[...]) }       // publicKey as varint
        #expect(throws: DecodeError.self) { try IdentifyMessage(decoding: hex("1205 0400")[...]) }  // truncated field
        #expect(throws: DecodeError.self) { try IdentifyMessage(decoding: hex("2a")[...]) }
        var big = ByteBuffer([0x81, 0x40])   // 8193, refused before the body arrives
        #expect(throws: DecodeError.tooLarge(what: "length-prefixed message", size: 8193, cap: 8192)) { try IdentifyMessage.read(from: &big) }
        let oversize = [UInt8](repeating: 0, count: 8193)
        #expect(throws: DecodeError.tooLarge(what: "identify message", size: 8193, cap: 8192)) { try IdentifyMessage(decoding: oversize[...]) }
        let body = sample.encode()
        for n in 0..<body.count {
            // Every prefix either decodes (at a field boundary) or throws; none traps.
            _ = try? IdentifyMessage(decoding: body.prefix(n))
        }
        #expect(throws: DecodeError.self) { try IdentifyMessage(decoding: body.dropLast()) }
    }
}
