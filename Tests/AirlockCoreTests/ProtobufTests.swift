import Testing
@testable import AirlockCore

/// ProtoReader and ProtoWriter: known encodings, unknown fields of every wire type skipped,
/// unsupported wire types and field numbers refused, and every malformed varint, fixed field and
/// length (beyond the bytes left, beyond the cap) reported as a DecodeError without allocating.
@Suite struct ProtobufTests {
    static func h(_ s: String) -> [UInt8] { Hex.decode(s)! }

    static func key(_ number: UInt64, _ type: UInt64) -> [UInt8] { UVarint.encode(number << 3 | type) }

    /// The next field as `number/type` (nil at the end), for readable expectations.
    static func next(_ r: inout ProtoReader) throws(DecodeError) -> String? {
        guard let field = try r.nextField() else { return nil }
        return "\(field.number)/\(field.type)"
    }

    /// Reads every field of a message, skipping each, and returns their numbers in order.
    static func walk(_ bytes: ArraySlice<UInt8>) throws(DecodeError) -> [UInt32] {
        var reader = ProtoReader(bytes)
        var numbers: [UInt32] = []
        while let field = try reader.nextField() {
            numbers.append(field.number)
            try reader.skip(field.type)
        }
        return numbers
    }

    /// One field of each wire type, with the offsets where each field ends.
    static let everyType: (bytes: [UInt8], ends: [Int]) = {
        var bytes: [UInt8] = [], ends: [Int] = []
        bytes += key(1, 0) + UVarint.encode(300); ends.append(bytes.count)
        bytes += key(2, 1) + [UInt8](1...8); ends.append(bytes.count)
        bytes += key(3, 2) + [0x05] + Array("hello".utf8); ends.append(bytes.count)
        bytes += key(4, 5) + [UInt8](1...4); ends.append(bytes.count)
        bytes += key(0x1fff_ffff, 2) + [0x81, 0x01] + [UInt8](repeating: 0xAB, count: 129); ends.append(bytes.count)
        return (bytes, ends)
    }()

    @Test func knownEncodings() throws {
        var w = ProtoWriter()
        w.writeVarint(field: 1, 150)
        w.writeString(field: 2, "testing")
        w.writeBytes(field: 3, [UInt8]())
        #expect(w.bytes == Self.h("089601 120774657374696e67 1a00"))
        var r = ProtoReader(w.bytes)
        #expect(try Self.next(&r) == "1/varint")
        #expect(try r.readVarint() == 150)
        #expect(try Self.next(&r) == "2/lengthDelimited")
        #expect(try r.readString(cap: 7) == "testing")
        #expect(try Self.next(&r) == "3/lengthDelimited")
        #expect(try r.readBytes(cap: 0).isEmpty)
        #expect(try r.nextField() == nil)
        #expect(r.isAtEnd)
    }

    @Test(arguments: [UInt64(0), 1, 127, 128, 16383, 16384, UInt64(Int64.max), UInt64(Int64.max) + 1, UInt64.max])
    func varintFieldsRoundTrip(value: UInt64) throws {
        var w = ProtoWriter()
        w.writeVarint(field: 536_870_911, value)
        var r = ProtoReader(w.bytes)
        #expect(try Self.next(&r) == "536870911/varint")
        #expect(try r.readVarint() == value)
        #expect(r.isAtEnd)
    }

    @Test(arguments: [0, 1, 127, 128, 300, 4096])
    func bytesFieldsRoundTripAtTheirCap(count: Int) throws {
        let body = (0..<count).map { UInt8(truncatingIfNeeded: $0) }
        var w = ProtoWriter()
        w.writeBytes(field: 15, body)
        var r = ProtoReader(w.bytes)
        #expect(try Self.next(&r) == "15/lengthDelimited")
        #expect(Array(try r.readBytes(cap: count)) == body)
        #expect(r.isAtEnd)
        var over = ProtoReader(w.bytes)
        _ = try over.nextField()
        if count > 0 {
            #expect(throws: DecodeError.tooLarge(what: "protobuf field", size: UInt64(count), cap: count - 1)) {
                try over.readBytes(cap: count - 1)
            }
        }
    }

    /// A reader that knows fields 1 and 2 reads them around unknown fields of every wire type,
    /// including the largest field number.
    @Test func skipsUnknownFieldsOfEveryWireType() throws {
        for number: UInt64 in [3, 15, 16, 2047, 2048, 0x1fff_ffff] {
            var msg = Self.key(1, 0) + [0x07]
            msg += Self.key(number, 0) + Self.h("ffffffffffffffffff01")
            msg += Self.key(number, 1) + [UInt8](repeating: 0xFF, count: 8)
            msg += Self.key(number, 2) + [0x02] + Self.key(1, 0) + [0x09]  // looks like field 1: must not be read
            msg += Self.key(number, 5) + [UInt8](repeating: 0xFF, count: 4)
            msg += Self.key(number, 2) + [0x00]
            msg += Self.key(2, 2) + [0x02] + Array("ok".utf8)
            var r = ProtoReader(msg)
            var seen: (UInt64?, String?) = (nil, nil)
            while let field = try r.nextField() {
                switch field.number {
                case 1: try ProtoReader.expect(field.type, .varint, field: "a"); seen.0 = try r.readVarint()
                case 2: try ProtoReader.expect(field.type, .lengthDelimited, field: "b"); seen.1 = try r.readString(cap: 16)
                default: #expect(UInt64(field.number) == number); try r.skip(field.type)
                }
            }
            #expect(seen.0 == 7 && seen.1 == "ok")
            #expect(try Self.walk(msg[...]) == [1] + [UInt32](repeating: UInt32(number), count: 5) + [2])
        }
    }

    @Test(arguments: [UInt64(3), 4, 6, 7])
    func rejectsUnsupportedWireTypes(type: UInt64) {
        for number: UInt64 in [1, 15, 16, 0x1fff_ffff] {
            var r = ProtoReader(Self.key(number, type) + [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])
            #expect(throws: DecodeError.invalid("protobuf wire type \(type) not supported")) { try r.nextField() }
        }
    }

    @Test func rejectsFieldNumbersOutOfRange() {
        for number: UInt64 in [0, 0x2000_0000, UInt64.max >> 3] {
            var r = ProtoReader(Self.key(number, 0) + [0x01])
            #expect(throws: DecodeError.invalid("protobuf field number \(number) out of range")) { try r.nextField() }
        }
    }

    @Test func rejectsMalformedVarints() {
        let cases: [([UInt8], DecodeError)] = [
            ([0x80], .truncated("protobuf varint")), ([0xFF, 0xFF], .truncated("protobuf varint")),
            ([0x88, 0x00], .nonMinimalVarint), ([0x81, 0x80, 0x00], .nonMinimalVarint),
            ([UInt8](repeating: 0xFF, count: 9) + [0x02], .varintTooLong), ([UInt8](repeating: 0x80, count: 11), .varintTooLong),
        ]
        for (bytes, error) in cases {
            var asKey = ProtoReader(bytes)
            #expect(throws: error) { try asKey.nextField() }
            var asValue = ProtoReader([0x08] + bytes)
            _ = try? asValue.nextField()
            #expect(throws: error) { try asValue.readVarint() }
            var skipped = ProtoReader([0x08] + bytes)
            _ = try? skipped.nextField()
            #expect(throws: error) { try skipped.skip(.varint) }
        }
        var empty = ProtoReader([UInt8]())
        #expect(throws: DecodeError.truncated("protobuf varint")) { try empty.readVarint() }
    }

    @Test func fixedFieldsTruncatedAtEveryLength() throws {
        for (type, size) in [(ProtoWireType.fixed64, 8), (.fixed32, 4)] {
            for have in 0..<size {
                var r = ProtoReader(Self.key(1, UInt64(type.rawValue)) + [UInt8](repeating: 0x11, count: have))
                #expect(try r.nextField()?.type == type)
                #expect(throws: DecodeError.truncated("protobuf fixed field")) { try r.skip(type) }
            }
        }
    }

    /// Declared lengths are checked against the cap, then against the bytes left; neither check
    /// allocates, so a length of 2^63 - 1 fails as fast as one of 10.
    @Test func rejectsLengthsBeyondTheBytesOrTheCap() {
        let cases: [(length: UInt64, cap: Int, error: DecodeError)] = [
            (6, 16, .truncated("protobuf field")),
            (UInt64(Int64.max), Int.max, .truncated("protobuf field")),
            (UInt64.max, Int.max, .tooLarge(what: "protobuf field", size: UInt64.max, cap: Int.max)),
            (UInt64(4097), 4096, .tooLarge(what: "protobuf field", size: 4097, cap: 4096)),
            (UInt64(1) << 40, 4096, .tooLarge(what: "protobuf field", size: 1 << 40, cap: 4096)),
        ]
        for (length, cap, error) in cases {
            let msg = Self.key(1, 2) + UVarint.encode(length) + [0x61, 0x62, 0x63, 0x64, 0x65]
            var r = ProtoReader(msg)
            _ = try? r.nextField()
            #expect(throws: error) { try r.readBytes(cap: cap) }
            var s = ProtoReader(msg)
            _ = try? s.nextField()
            #expect(throws: error) { try s.readString(cap: cap) }
        }
        // An unknown field is capped by the message it is in.
        let msg = Self.key(9, 2) + UVarint.encode(UInt64(Int64.max)) + [0x00]
        #expect(throws: DecodeError.tooLarge(what: "protobuf field", size: UInt64(Int64.max), cap: msg.count)) {
            try Self.walk(msg[...])
        }
        #expect(throws: DecodeError.truncated("protobuf field")) { try Self.walk((Self.key(9, 2) + [0x02, 0x00])[...]) }
    }

    /// Cut anywhere, a message yields the fields before the cut or a truncation error.
    @Test func everyTruncationOfAMessage() throws {
        let (bytes, ends) = Self.everyType
        #expect(try Self.walk(bytes[...]) == [1, 2, 3, 4, 0x1fff_ffff])
        for cut in 0..<bytes.count {
            if let whole = ends.firstIndex(of: cut) {
                #expect(try Self.walk(bytes[..<cut]).count == whole + 1)
            } else if cut == 0 {
                #expect(try Self.walk(bytes[..<cut]).isEmpty)
            } else {
                let error = #expect(throws: DecodeError.self) { try Self.walk(bytes[..<cut]) }
                switch error {
                case .truncated?, .tooLarge("protobuf field", _, cut)?: break
                default: Issue.record("cut at \(cut): \(String(describing: error))")
                }
            }
        }
    }

    @Test func readStringRejectsInvalidUTF8() throws {
        for bad in ["c328", "c080", "eda080", "f4908080", "ff", "e282"] {
            let raw = Self.h(bad)
            var r = ProtoReader(Self.key(1, 2) + [UInt8(raw.count)] + raw)
            _ = try r.nextField()
            #expect(throws: DecodeError.invalid("protobuf string is not UTF-8")) { try r.readString(cap: 16) }
        }
        var ok = ProtoReader(Self.key(1, 2) + [0x02] + Array("é".utf8))
        _ = try ok.nextField()
        #expect(try ok.readString(cap: 2) == "é")
    }

    @Test func expectNamesTheFieldAndTypes() throws {
        try ProtoReader.expect(.varint, .varint, field: "type")
        #expect(throws: DecodeError.invalid("protobuf field type has wire type 5, expected 0")) {
            try ProtoReader.expect(.fixed32, .varint, field: "type")
        }
    }

    /// Messages handed over as slices of a larger buffer read from their own start and end.
    @Test func readsASliceAtAnOffset() throws {
        let whole: [UInt8] = [0x08, 0x01] + Self.key(2, 2) + [0x02, 0x68, 0x69] + [0x08, 0x05]
        var r = ProtoReader(whole[2..<6])
        #expect(try Self.next(&r) == "2/lengthDelimited")
        #expect(Array(try r.readBytes(cap: 2)) == [0x68, 0x69])
        #expect(try r.nextField() == nil)
        var cut = ProtoReader(whole[2..<5])
        _ = try cut.nextField()
        #expect(throws: DecodeError.truncated("protobuf field")) { try cut.readBytes(cap: 2) }
    }
}
