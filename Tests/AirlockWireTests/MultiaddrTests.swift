import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct MultiaddrTests {
    let relayID = try! PeerID("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq")
    let targetID = try! PeerID("12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq")

    @Test func circuitVectorMatchesBothWays() throws {
        let f = try Fixtures.load("multiaddr.json")
        let text = try #require(f["circuitText"]), binary = hex(try #require(f["circuitBinary"]))
        #expect(binary.count == 92)
        let fromText = try Multiaddr(text)
        #expect(fromText.bytes == binary)
        let fromBinary = try Multiaddr(bytes: binary)
        #expect(fromBinary == fromText)
        #expect(fromBinary.description == text)
        #expect(fromBinary.components == [.ip4(IPAddress(ipv4: 127, 0, 0, 1)), .tcp(4001), .p2p(relayID), .p2pCircuit, .p2p(targetID)])
    }

    @Test func circuitHelpers() throws {
        let f = try Fixtures.load("multiaddr.json")
        let addr = try Multiaddr(try #require(f["circuitText"]))
        #expect(addr.isCircuit)
        #expect(addr.peerID == targetID)
        #expect(addr.tcpEndpoint == nil)
        let (relay, target) = try #require(addr.circuit)
        #expect(target == targetID)
        #expect(relay.description == "/ip4/127.0.0.1/tcp/4001/p2p/\(relayID)")
        #expect(relay.peerID == relayID)
        let endpoint = try #require(relay.tcpEndpoint)
        #expect(endpoint.ip == IPAddress(ipv4: 127, 0, 0, 1) && endpoint.port == 4001)

        // A listener's own circuit address ends in /p2p-circuit: no target.
        let own = try Multiaddr("/ip4/10.0.0.1/tcp/1/p2p/\(relayID)/p2p-circuit")
        #expect(own.circuit?.target == nil)
        #expect(own.circuit?.relay.peerID == relayID)
        // Relay hints between the two markers are ignored.
        let hinted = try Multiaddr("/p2p/\(relayID)/p2p-circuit/p2p/\(relayID)/p2p-circuit/p2p/\(targetID)")
        #expect(hinted.circuit?.target == targetID)
        #expect(hinted.circuit?.relay == Multiaddr([.p2p(relayID)]))
        #expect(try Multiaddr("/ip4/1.2.3.4/tcp/5").circuit == nil)
    }

    @Test func buildingAndEndpoints() throws {
        let a = Multiaddr(ip4: (192, 168, 1, 2), port: 4001)
        #expect(a.description == "/ip4/192.168.1.2/tcp/4001")
        #expect(a.bytes == hex("04 c0a80102 06 0fa1"))
        let withID = a.appending(.p2p(relayID))
        #expect(withID.tcpEndpoint?.port == 4001)
        #expect(withID.appending(.p2pCircuit).appending(Multiaddr([.p2p(targetID)])).circuit?.target == targetID)
        let v6 = Multiaddr(ip: IPAddress("::1")!, tcpPort: 80)
        #expect(v6.description == "/ip6/::1/tcp/80")
        #expect(v6.tcpEndpoint?.ip.isIPv4 == false)
        #expect(try Multiaddr("/ip4/1.2.3.4/udp/5").tcpEndpoint == nil)
        #expect(try Multiaddr("/dns4/example.com/tcp/5").tcpEndpoint == nil)
        #expect(try Multiaddr("/ip4/1.2.3.4/tcp/5/ws").tcpEndpoint == nil)
        let doubled = withID.appending(.p2p(relayID))
        #expect(doubled.withoutTrailingPeerID == a)
        #expect(a.peerID == nil)
    }

    @Test(arguments: [
        "/ip4/0.0.0.0/tcp/0", "/ip4/255.255.255.255/udp/65535",
        "/ip6/2001:db8::1/tcp/443", "/ip6/::/tcp/1", "/ip6/::ffff:1.2.3.4/tcp/1", "/ip6/fe80::1:2:3:4/udp/9",
        "/dns/example.com/tcp/80", "/dns4/a.b/tcp/1", "/dns6/x/udp/2", "/dnsaddr/bootstrap.libp2p.io",
        "/ip4/1.2.3.4/udp/4001/quic-v1", "/ip4/1.2.3.4/tcp/443/tls/ws", "/dns/h/tcp/443/wss", "/ip4/1.2.3.4/tcp/1/noise",
        "/p2p-circuit", "/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
    ])
    func textRoundTrips(text: String) throws {
        let a = try Multiaddr(text)
        #expect(a.description == text)
        #expect(try Multiaddr(bytes: a.bytes) == a)
    }

    @Test func textNormalisations() throws {
        // CIDv1 peer IDs and the legacy /ipfs/ name parse; printing uses base58 and /p2p/.
        let cid = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"
        #expect(try Multiaddr("/p2p/\(cid)").description == "/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
        #expect(try Multiaddr("/ipfs/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").description.hasPrefix("/p2p/Qm"))
        #expect(try Multiaddr("/ip6/2001:0db8:0000:0000:0000:0000:0000:0001/tcp/1").description == "/ip6/2001:db8::1/tcp/1")
        #expect(try Multiaddr("/ip4/1.2.3.4/tcp/5/") == Multiaddr("/ip4/1.2.3.4/tcp/5"))
    }

    @Test(arguments: [
        ("", "start with /"), ("/", "start with /"), ("ip4/1.2.3.4", "start with /"),
        ("/ip4/1.2.3", "/ip4/1.2.3"), ("/ip4/01.2.3.4", "/ip4/01.2.3.4"), ("/ip4/1.2.3.256", "not an IPv4"),
        ("/ip4", "/ip4 value"), ("/ip4/1.2.3.4/tcp", "/tcp value"), ("/ip4/1.2.3.4/tcp/65536", "/tcp/65536"),
        ("/ip4/1.2.3.4/tcp/-1", "/tcp/-1"), ("/ip4/1.2.3.4/tcp/+1", "/tcp/+1"), ("/ip4/1.2.3.4/tcp/000080", "/tcp/000080"),
        ("/ip6/1.2.3.4", "not an IPv6"), ("/ip6/::1%eth0", "/ip6/::1%eth0"), ("/ip6/1::2::3", "/ip6/1::2::3"),
        ("/ip4/1.2.3.4//tcp/1", "empty component"), ("/ip4/1.2.3.4/sctp/1", "/sctp is not"),
        ("/p2p/12D3KooWBogus", "/p2p/12D3KooWBogus"), ("/p2p/", "/p2p value"), ("/dns/", "/dns value"), ("/dns//tcp/1", "empty DNS name"),
        ("/ip4/1.2.3.4/tcp/1//", "empty component"),
    ])
    func textErrorsNameTheComponent(text: String, mention: String) {
        do {
            _ = try Multiaddr(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.contains(mention), "\(error) should mention \(mention)")
        }
    }

    @Test func textCaps() throws {
        let long = "/dns/" + String(repeating: "a", count: 256) + "/tcp/1"
        #expect(throws: DecodeError.invalid("multiaddr /dns/\(String(repeating: "a", count: 64))…: DNS name of 256 bytes exceeds cap of 255")) {
            try Multiaddr(long)
        }
        #expect(try Multiaddr("/dns/" + String(repeating: "a", count: 255)).components.count == 1)
        let huge = String(repeating: "/p2p-circuit", count: 200)
        #expect(throws: DecodeError.tooLarge(what: "multiaddr text", size: UInt64(huge.utf8.count), cap: 2048)) { try Multiaddr(huge) }
    }

    @Test func binaryRejectsEveryTruncation() throws {
        let binary = hex(try #require(try Fixtures.load("multiaddr.json")["circuitBinary"]))
        // Cut points that fall on a component boundary decode to a shorter address; all others throw.
        let boundaries: Set<Int> = [5, 8, 49, 51, 92]
        for n in 0..<binary.count {
            if boundaries.contains(n) {
                #expect(try Multiaddr(bytes: binary.prefix(n)).bytes == Array(binary.prefix(n)))
            } else {
                #expect(throws: DecodeError.self) { try Multiaddr(bytes: binary.prefix(n)) }
            }
        }
    }

    @Test func binaryHostileInput() {
        // Unknown code, non-minimal code varint, oversize DNS length, bad peer ID, trailing junk.
        #expect(throws: DecodeError.invalid("multiaddr protocol code 5 not supported")) { try Multiaddr(bytes: [0x05, 0x00]) }
        #expect(throws: DecodeError.nonMinimalVarint) { try Multiaddr(bytes: [0x84, 0x00, 1, 2, 3, 4]) }
        #expect(throws: DecodeError.tooLarge(what: "multiaddr /dns value", size: 256, cap: 255)) {
            try Multiaddr(bytes: [0x35, 0x80, 0x02] + [UInt8](repeating: 0x61, count: 256))
        }
        #expect(throws: DecodeError.invalid("multiaddr /dns name is not UTF-8")) { try Multiaddr(bytes: [0x35, 0x01, 0xff]) }
        #expect(throws: DecodeError.invalid("empty DNS name")) { try Multiaddr(bytes: [0x35, 0x00]) }
        #expect(throws: DecodeError.invalid("DNS name contains '/' or NUL")) { try Multiaddr(bytes: [0x35, 0x01, 0x2f]) }
        #expect(throws: DecodeError.self) { try Multiaddr(bytes: [0xa5, 0x03, 0x02, 0x99, 0x00]) }
        #expect(throws: DecodeError.tooLarge(what: "multiaddr /p2p value", size: 65, cap: 64)) {
            try Multiaddr(bytes: [0xa5, 0x03, 0x41] + [UInt8](repeating: 0, count: 65))
        }
        #expect(throws: DecodeError.truncated("multiaddr /tcp value")) { try Multiaddr(bytes: [0x04, 1, 2, 3, 4, 0x06, 0x01]) }
        #expect(throws: DecodeError.truncated("multiaddr (empty)")) { try Multiaddr(bytes: [UInt8]()) }
        let long = [UInt8](repeating: 0x06, count: 1025)
        #expect(throws: DecodeError.tooLarge(what: "multiaddr", size: 1025, cap: 1024)) { try Multiaddr(bytes: long) }
    }
}
