import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct ExitMessageTests {
    @Test func requestRoundTripsWholeAndDripFed() throws {
        let r = ExitRequest(host: "api.example.com", port: 443)
        // host = 1 (string), port = 2 (varint 443 = bb 03)
        #expect(r.encode() == [0x0a, 15] + Array("api.example.com".utf8) + [0x10, 0xbb, 0x03])
        let wire = r.framed()
        var buf = ByteBuffer(wire)
        #expect(try ExitRequest.read(from: &buf) == r)
        #expect(buf.readableBytes == 0)
        #expect(try dripFeed(wire, ExitRequest.read) == r)
        let unicode = ExitRequest(host: "bücher.example", port: 80)
        #expect(try dripFeed(unicode.framed(), ExitRequest.read) == unicode)
    }

    @Test func requestLeavesTheBytesAfterItForTheConnection() throws {
        var buf = ByteBuffer(ExitRequest(host: "a.test", port: 1).framed() + Array("GET /".utf8))
        #expect(try ExitRequest.read(from: &buf)?.host == "a.test")
        #expect(Array(buf.readableView) == Array("GET /".utf8))
    }

    @Test func hostileRequests() {
        #expect(throws: DecodeError.missingField("ExitRequest.host")) { try ExitRequest(decoding: hex("1001")[...]) }
        #expect(throws: DecodeError.missingField("ExitRequest.host")) { try ExitRequest(decoding: hex("0a00 1001")[...]) }
        #expect(throws: DecodeError.missingField("ExitRequest.port")) { try ExitRequest(decoding: hex("0a0161")[...]) }
        #expect(throws: DecodeError.invalid("ExitRequest.port 0 is not 1-65535")) { try ExitRequest(decoding: hex("0a0161 1000")[...]) }
        #expect(throws: DecodeError.invalid("ExitRequest.port 65536 is not 1-65535")) { try ExitRequest(decoding: hex("0a0161 10808004")[...]) }
        #expect(throws: DecodeError.self) { try ExitRequest(decoding: hex("0a02ff fe 1001")[...]) }  // not UTF-8
        #expect(throws: DecodeError.self) { try ExitRequest(decoding: hex("0a05 61")[...]) }        // cut
        #expect(throws: DecodeError.self) { try ExitRequest(decoding: hex("0d00000000")[...]) }    // host as fixed32
        // A length over the cap is refused on the prefix alone, before the body arrives.
        var big = ByteBuffer([0x81, 0x10])
        #expect(throws: DecodeError.self) { try ExitRequest.read(from: &big) }
        let longHost = String(repeating: "a", count: ExitWire.maxHostLength + 1)
        #expect(throws: DecodeError.self) { try ExitRequest(decoding: ExitRequest(host: longHost, port: 1).encode()[...]) }
    }

    @Test func responseRoundTripsEveryStatus() throws {
        for status in ExitResponse.Status.allCases {
            let r = ExitResponse(status: status, reason: "r-\(status.rawValue)", text: "why \(status)",
                                 address: status == .ok ? IPAddress("2001:db8::1") : IPAddress("127.0.0.1"))
            #expect(try dripFeed(r.framed(), ExitResponse.read) == r, "\(status)")
        }
        #expect(ExitResponse(status: .ok, reason: "").encode() == [0x08, 100])
    }

    @Test func responseCutsLongTextOnACharacterBoundary() throws {
        let long = String(repeating: "é", count: ExitWire.maxTextLength)
        let r = try ExitResponse(decoding: ExitResponse(status: .denied, reason: "x", text: long).encode()[...])
        #expect(r.text.utf8.count <= ExitWire.maxTextLength && r.text.allSatisfy { $0 == "é" })
    }

    @Test func hostileResponses() {
        #expect(throws: DecodeError.missingField("ExitResponse.status")) { try ExitResponse(decoding: hex("1201 61")[...]) }
        #expect(throws: DecodeError.invalid("ExitResponse.status 7 unknown")) { try ExitResponse(decoding: hex("0807")[...]) }
        #expect(throws: DecodeError.invalid("ExitResponse.address of 3 bytes")) { try ExitResponse(decoding: hex("0864 2203 010203")[...]) }
    }

    @Test func checksAndVerdictsRoundTrip() throws {
        let peer = try PeerID("12D3KooWLdJAwPtyQ5RFnr9wGXsQzpf3P2SeqFbYkqbfVehLu4Ns")
        let c = ExitCheck(id: 7, peer: peer, host: "[2001:db8::1]", port: 8443)
        #expect(try dripFeed(c.framed(), ExitCheck.read) == c)
        for purpose in [ExitCheck.Purpose.address, .recheck] {
            let p = ExitCheck(id: 8, peer: peer, host: "a.test", port: 1, purpose: purpose)
            #expect(try dripFeed(p.framed(), ExitCheck.read) == p)
        }
        #expect(throws: DecodeError.invalid("ExitCheck.purpose 9 unknown")) { try ExitCheck(decoding: hex("0801 1a0161 2001 2809")[...]) }
        let v = ExitVerdict(id: 7, allowed: true, reason: "destination", text: "allowed by …", agent: "coder")
        #expect(try dripFeed(v.framed(), ExitVerdict.read) == v)
        let notice = try dripFeed(ExitVerdict.reloadNotice.framed(), ExitVerdict.read)
        #expect(notice?.reloaded == true && notice?.allowed == false)
        #expect(throws: DecodeError.missingField("ExitCheck.peer")) { try ExitCheck(decoding: hex("0801 1a0161 2001")[...]) }
        #expect(throws: DecodeError.missingField("ExitVerdict.id")) { try ExitVerdict(decoding: hex("1001")[...]) }
        #expect(throws: DecodeError.self) { try ExitCheck(decoding: hex("0801 1203 000000 1a0161 2001")[...]) }  // not a peer ID
    }
}
