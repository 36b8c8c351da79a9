import Testing
@testable import AirlockCore

/// PeerID from multihash bytes and from text (wire.md §3.3–3.5): the spec vectors in both text
/// forms, every truncation and extension, every unsupported code and length, every bad character,
/// the length caps, and CIDs with the wrong version or codec.
@Suite struct PeerIDTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let text: String, cid: String, hex: String
        var bytes: [UInt8] { Hex.decode(hex)! }
        var testDescription: String { text }
    }

    /// wire.md §3.5: Ed25519 spec key and seed 02×32 (identity), secp256k1 (identity), and the
    /// spec text example and ECDSA key (sha2-256).
    static let vectors = [
        Vector(text: "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
               cid: "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6",
               hex: "0024 08011220 1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"),
        Vector(text: "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq",
               cid: "bafzaajaiaejcbajzo4hkq7ixl5lkgvdgyngh5tglrwfjdnhog6rf35qploh4tm4u",
               hex: "0024 08011220 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"),
        Vector(text: "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY",
               cid: "bafzaajiiaijcca3xo7uzjzcsyilaj6i54cj44qk7kqzpoao5rti2pjx6udtdbp6kte",
               hex: "0025 08021221 037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"),
        Vector(text: "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
               cid: "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe",
               hex: "1220 9dff3b17d74cf4d38a50d8b6383e92d181a10395a5e73a726dcccbd21bf6f0b9"),
        Vector(text: "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk",
               cid: "bafzbeidigywdclqvl5hxfefwp5onbffcfife7pza57mmfb4tiqmtkdjw64",
               hex: "1220 68362c312e155f4f7290b67f5cd094a22a0a4fbf20efd8c287934419350d36f7"),
    ]

    static let lengthError = DecodeError.invalid("peer ID text must be 1 to 128 characters")
    static func mismatch(_ len: Int, _ have: Int) -> DecodeError {
        .invalid("peer ID multihash length \(len) does not match its \(have) bytes")
    }
    static func cid(_ raw: [UInt8]) -> String { "b" + Base32.encode(raw) }

    @Test(arguments: vectors)
    func parsesBothTextForms(v: Vector) throws {
        let id = try PeerID(v.text)
        #expect(id.bytes == v.bytes)
        #expect(id.description == v.text && id.cidString == v.cid)
        #expect(try PeerID(v.cid) == id)
        #expect(try PeerID(v.cid.uppercased()) == id)  // multibase `B`, the upper-case form
        #expect(try PeerID(bytes: v.bytes) == id)
        let padded = [0xEE] + v.bytes + [0xEE]
        #expect(try PeerID(bytes: padded.dropFirst().dropLast()) == id)
        #expect(id.inlinedPublicKey.map { Array($0) } == (v.bytes[0] == 0 ? Array(v.bytes[2...]) : nil))
    }

    @Test func largestInlineKeyRoundTrips() throws {
        let bytes: [UInt8] = [0x00, 42] + (0..<42).map { UInt8($0) }
        let id = try PeerID(bytes: bytes)
        #expect(try PeerID(id.description) == id)
        #expect(try PeerID(id.cidString) == id)
        #expect(id.inlinedPublicKey.map { Array($0) } == Array(bytes[2...]))
    }

    // MARK: bytes

    @Test(arguments: vectors)
    func rejectsEveryTruncationAndExtension(v: Vector) {
        let bytes = v.bytes, len = bytes.count - 2
        for cut in 0..<2 {
            #expect(throws: DecodeError.truncated("peer ID multihash")) { try PeerID(bytes: bytes[..<cut]) }
        }
        for cut in 2..<bytes.count {
            #expect(throws: Self.mismatch(len, cut - 2)) { try PeerID(bytes: bytes[..<cut]) }
        }
        for extra in 1...(PeerID.maxLength - bytes.count) {
            #expect(throws: Self.mismatch(len, len + extra)) { try PeerID(bytes: bytes + [UInt8](repeating: 0, count: extra)) }
        }
        #expect(throws: DecodeError.tooLarge(what: "peer ID", size: 65, cap: PeerID.maxLength)) {
            try PeerID(bytes: bytes + [UInt8](repeating: 0, count: 65 - bytes.count))
        }
    }

    @Test func checksEveryDigestLength() throws {
        for len in 0...62 {
            let identity = [0x00, UInt8(len)] + [UInt8](repeating: 7, count: len)
            let sha = [0x12, UInt8(len)] + [UInt8](repeating: 7, count: len)
            if len <= PeerID.maxInlineKeyLength {
                #expect(try PeerID(bytes: identity).bytes == identity)
            } else {
                #expect(throws: DecodeError.invalid("identity peer ID holds a key over 42 bytes")) { try PeerID(bytes: identity) }
            }
            if len == 32 {
                #expect(try PeerID(bytes: sha).bytes == sha)
            } else {
                #expect(throws: DecodeError.invalid("sha2-256 peer ID must hold 32 bytes")) { try PeerID(bytes: sha) }
            }
        }
        #expect(throws: DecodeError.tooLarge(what: "peer ID", size: 65, cap: 64)) {
            try PeerID(bytes: [0x00, 63] + [UInt8](repeating: 7, count: 63))
        }
        #expect(throws: DecodeError.tooLarge(what: "peer ID", size: 4096, cap: 64)) { try PeerID(bytes: [UInt8](repeating: 0, count: 4096)) }
    }

    @Test func rejectsEveryOtherMultihashCode() {
        for code in UInt8(0)...UInt8.max where code != PeerID.identityCode && code != PeerID.sha256Code {
            #expect(throws: DecodeError.invalid("peer ID multihash code 0x\(String(code, radix: 16)) not supported")) {
                try PeerID(bytes: [code, 0x20] + [UInt8](repeating: 1, count: 32))
            }
        }
    }

    @Test func rejectsMalformedLengthVarints() {
        #expect(throws: DecodeError.truncated("peer ID multihash length")) { try PeerID(bytes: [0x00, 0x80]) }
        #expect(throws: DecodeError.truncated("peer ID multihash length")) { try PeerID(bytes: [0x12, 0xA0, 0x80]) }
        #expect(throws: DecodeError.nonMinimalVarint) { try PeerID(bytes: [0x00, 0xA4, 0x00] + [UInt8](repeating: 1, count: 36)) }
        #expect(throws: DecodeError.nonMinimalVarint) { try PeerID(bytes: [0x12, 0xA0, 0x00] + [UInt8](repeating: 1, count: 32)) }
        #expect(throws: DecodeError.varintTooLong) { try PeerID(bytes: [0x00] + [UInt8](repeating: 0x80, count: 9) + [0x01]) }
        #expect(throws: Self.mismatch(1 << 62, 0)) { try PeerID(bytes: [0x00] + [UInt8](repeating: 0x80, count: 8) + [0x40]) }
    }

    // MARK: text

    /// A cut CID always fails (its multihash length no longer matches). A cut base58 text can
    /// happen to spell a short identity multihash (`12D3KooWBtg3` is `00 07 383dd9f7d124a4`): the
    /// multihash shape is all a peer ID checks, as in go and rust. Such a text must then be that
    /// other peer ID's own canonical form, never a lenient reading of the original.
    @Test(arguments: vectors)
    func rejectsOrReinterpretsEveryTruncatedText(v: Vector) throws {
        let original = try PeerID(v.text)
        for text in [v.text, v.cid] {
            let chars = Array(text)
            for cut in 1..<chars.count {
                let prefix = String(chars[..<cut])
                do {
                    let other = try PeerID(prefix)
                    #expect(text == v.text, "a cut CID parsed: \(prefix)")
                    #expect(other != original && other.description == prefix)
                    #expect(other.bytes[0] == PeerID.identityCode && other.bytes.count == Int(other.bytes[1]) + 2)
                } catch {
                    if cut == 1 && text == v.cid { #expect(error == .invalid("peer ID CID is not version 1")) }
                }
            }
        }
    }

    /// A character outside the text form's alphabet, at every position after the prefix that
    /// chose the form, names the form it failed; at the prefix, no form matches.
    @Test(arguments: vectors)
    func rejectsEveryBadCharacterAtEveryPosition(v: Vector) {
        let base58 = Array(v.text), base32 = Array(v.cid)
        let keep = v.text.hasPrefix("Qm") ? 2 : 1
        for bad: Character in ["0", "O", "I", "l", "+", "/", "=", " ", "\0", "é", "\u{FEFF}"] {
            for i in 0..<base58.count {
                var t = base58; t[i] = bad
                let text = String(t)
                if i >= keep {
                    #expect(throws: DecodeError.invalid("peer ID \"\(text)\" is not base58btc")) { try PeerID(text) }
                } else {
                    #expect(throws: DecodeError.self) { try PeerID(text) }
                }
            }
        }
        for bad: Character in ["0", "1", "8", "9", "=", " ", "-", "\0", "é"] {
            for i in 1..<base32.count {
                var t = base32; t[i] = bad
                let text = String(t)
                #expect(throws: DecodeError.invalid("peer ID \"\(text)\" is neither base58btc nor base32 CIDv1")) { try PeerID(text) }
            }
        }
    }

    /// The text cap (128 UTF-8 bytes) comes first; text within it meets the byte cap next.
    @Test func capsTheTextLength() {
        #expect(throws: Self.lengthError) { try PeerID("") }
        #expect(throws: Self.lengthError) { try PeerID(String(repeating: "1", count: 129)) }
        #expect(throws: Self.lengthError) { try PeerID("b" + String(repeating: "a", count: 128)) }
        #expect(throws: Self.lengthError) { try PeerID("1" + String(repeating: "é", count: 64)) }
        #expect(throws: DecodeError.tooLarge(what: "peer ID", size: 128, cap: 64)) { try PeerID(String(repeating: "1", count: 128)) }
        #expect(throws: DecodeError.tooLarge(what: "peer ID", size: 75, cap: 64)) { try PeerID("Qm" + String(repeating: "z", count: 100)) }
        #expect(throws: DecodeError.invalid("peer ID CID is not version 1")) { try PeerID("b" + String(repeating: "a", count: 127)) }
        #expect(throws: DecodeError.truncated("peer ID multihash")) { try PeerID("1") }
    }

    @Test func rejectsCIDsWithTheWrongVersionOrCodec() throws {
        let mh = Self.vectors[0].bytes
        #expect(try PeerID(Self.cid([0x01, 0x72] + mh)).bytes == mh)
        let version = DecodeError.invalid("peer ID CID is not version 1")
        let codec = DecodeError.invalid("peer ID CID codec is not libp2p-key (0x72)")
        #expect(throws: version) { try PeerID("b") }
        #expect(throws: version) { try PeerID(Self.cid([0x00, 0x72] + mh)) }
        #expect(throws: version) { try PeerID(Self.cid([0x02, 0x72] + mh)) }
        #expect(throws: version) { try PeerID(Self.cid([0x80])) }
        #expect(throws: DecodeError.nonMinimalVarint) { try PeerID(Self.cid([0x81, 0x00, 0x72] + mh)) }
        #expect(throws: codec) { try PeerID(Self.cid([0x01])) }
        #expect(throws: codec) { try PeerID(Self.cid([0x01, 0x70] + mh)) }  // dag-pb
        #expect(throws: codec) { try PeerID(Self.cid([0x01, 0x55] + mh)) }  // raw
        #expect(throws: codec) { try PeerID(Self.cid([0x01, 0xF2])) }
        #expect(throws: DecodeError.nonMinimalVarint) { try PeerID(Self.cid([0x01, 0xF2, 0x00] + mh)) }
        #expect(throws: DecodeError.truncated("peer ID multihash")) { try PeerID(Self.cid([0x01, 0x72])) }
        #expect(throws: Self.mismatch(36, 35)) { try PeerID(Self.cid([0x01, 0x72] + mh.dropLast())) }
    }

    /// Only bare base58btc (`1…`, `Qm…`) and multibase base32 (`b`/`B`) are peer-ID text.
    @Test func rejectsOtherMultibasePrefixes() {
        let v = Self.vectors[0]
        let cidBytes = [0x01, 0x72] + v.bytes
        for text in ["z" + Base58.encode(cidBytes), "f" + Hex.encode(cidBytes), "F" + Hex.encode(cidBytes).uppercased(),
                     "c" + String(v.cid.dropFirst()), "2" + String(v.text.dropFirst()), " " + v.text, "\u{FEFF}" + v.text] {
            #expect(throws: DecodeError.invalid("peer ID \"\(text)\" is neither base58btc nor base32 CIDv1")) { try PeerID(text) }
        }
        #expect(throws: DecodeError.invalid("peer ID \"\(v.text) \" is not base58btc")) { try PeerID(v.text + " ") }
    }
}
