import Testing
import AirlockCore
@testable import AirlockWire

@Suite struct MultistreamMessageTests {
    // wire.md §1.1 examples.
    @Test(arguments: [
        (ProtocolID.multistream, "13 2f6d756c746973747265616d2f312e302e30 0a"),
        ("na", "03 6e61 0a"), ("ls", "03 6c73 0a"),
        (ProtocolID.noise, "07 2f6e6f697365 0a"),
        (ProtocolID.yamux, "0d 2f79616d75782f312e302e30 0a"),
    ])
    func encodesSpecExamples(text: String, bytes: String) throws {
        #expect(MultistreamMessage.encode(text) == hex(bytes))
        var buf = ByteBuffer(hex(bytes))
        #expect(try MultistreamMessage.read(from: &buf) == text)
        #expect(buf.isEmpty)
    }

    @Test(arguments: [(ProtocolID.hop, 0x20), (ProtocolID.stop, 0x21), (ProtocolID.identify, 0x0f), (ProtocolID.ping, 0x11)])
    func lengthPrefixes(text: String, prefix: Int) {
        let encoded = MultistreamMessage.encode(text)
        #expect(encoded.first == UInt8(prefix))
        #expect(encoded.count == prefix + 1 && encoded.last == 0x0a)
    }

    @Test func dripFedAndFollowedByOtherBytes() throws {
        let wire = MultistreamMessage.encode(ProtocolID.hop) + [0x02, 0x08, 0x00]
        var buf = ByteBuffer()
        var got: String?
        var index = 0
        while got == nil, index < wire.count {
            buf.write(wire[index])
            got = try MultistreamMessage.read(from: &buf)
            index += 1
        }
        #expect(got == ProtocolID.hop)
        #expect(index == 33 && buf.isEmpty)
        buf.write(wire[index...])
        #expect(buf.readAll() == [0x02, 0x08, 0x00])
    }

    @Test func lengthCapIsCheckedBeforeTheBody() throws {
        let name = "/" + String(repeating: "x", count: 1022)
        var ok = ByteBuffer(MultistreamMessage.encode(name))
        #expect(ok.readableBytes == 2 + 1024)
        #expect(try MultistreamMessage.read(from: &ok) == name)
        var big = ByteBuffer([0x81, 0x08])   // 1025, no body yet
        #expect(throws: MultistreamError.malformed(.tooLarge(what: "multistream message", size: 1025, cap: 1024))) {
            try MultistreamMessage.read(from: &big)
        }
        #expect(MultistreamMessage.isValidProtocolID(name))
        #expect(!MultistreamMessage.isValidProtocolID(name + "x"))
    }

    @Test(arguments: [
        ("00", "empty multistream message"),
        ("03 6e61 0d", "does not end in a newline"),
        ("03 2f0a 0a", "not one line"),
        ("03 2fff 0a", "not one line"),
        ("04 6e6f70 0a", "is not a protocol ID, na or ls"),
        ("01 0a", "is not a protocol ID, na or ls"),
        ("8300 6e61 0a", "non-minimal"),
        ("ffffffffffffffffff01", "varint too long"),
    ])
    func rejectsJunk(bytes: String, mention: String) {
        var buf = ByteBuffer(hex(bytes))
        do {
            let got = try MultistreamMessage.read(from: &buf)
            Issue.record("accepted \(bytes): \(String(describing: got))")
        } catch {
            #expect(error.description.contains(mention), "\(error)")
        }
    }

    @Test func incompleteConsumesNothing() throws {
        var buf = ByteBuffer(hex("07 2f6e6f69"))
        #expect(try MultistreamMessage.read(from: &buf) == nil)
        #expect(buf.readableBytes == 5)
        var empty = ByteBuffer()
        #expect(try MultistreamMessage.read(from: &empty) == nil)
    }
}
