import Testing
@testable import AirlockCore

/// RFC 4648 base32, lower case, unpadded: the multibase `b` form of CIDv1 peer IDs (wire.md §3.4).
/// Known vectors, every character outside the alphabet, every invalid length, non-zero trailing
/// bits, the length cap, and that anything accepted is the canonical encoding of what it decodes to.
@Suite struct Base32Tests {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    static let sample = "mzxw6ytboi"  // "foobar"

    /// The number of unused low bits in the last character of a text of each length mod 8
    /// (nil: no whole number of bytes has that length).
    static let spareBits: [Int?] = [0, nil, 2, nil, 4, 1, nil, 3]

    @Test(arguments: [("", ""), ("f", "my"), ("fo", "mzxq"), ("foo", "mzxw6"), ("foob", "mzxw6yq"),
                      ("fooba", "mzxw6ytb"), ("foobar", "mzxw6ytboi")])
    func rfc4648Vectors(plain: String, text: String) {
        #expect(Base32.encode(plain.utf8) == text)
        #expect(Base32.decode(text) == Array(plain.utf8))
        #expect(Base32.decode(text.uppercased()) == Array(plain.utf8))
    }

    /// CIDv1 version 1, codec libp2p-key (0x72), identity multihash of 36 bytes: hence `bafz…`.
    @Test func multibasePrefixOfPeerIDs() {
        #expect("b" + Base32.encode([0x01, 0x72, 0x00, 0x24]) == "bafzaaja")
        #expect(Base32.decode("afzaaja") == [0x01, 0x72, 0x00, 0x24])
    }

    @Test func roundTripsEveryLength() {
        for count in 0...64 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ count) }
            let text = Base32.encode(bytes)
            #expect(text.utf8.count == (count * 8 + 4) / 5)
            #expect(text.utf8.allSatisfy(Self.alphabet.contains))
            #expect(Base32.decode(text) == bytes)
        }
    }

    /// Lengths 1, 3 and 6 (mod 8) cannot come from whole bytes, whatever the characters.
    @Test func rejectsEveryImpossibleLength() {
        for length in 0...48 {
            let text = String(repeating: "a", count: length)
            if Self.spareBits[length % 8] == nil {
                #expect(Base32.decode(text) == nil, "length \(length)")
            } else {
                #expect(Base32.decode(text) == [UInt8](repeating: 0, count: length * 5 / 8))
            }
        }
    }

    /// The unused bits of the last character must be zero, or two texts would decode alike.
    @Test func rejectsNonZeroTrailingBits() {
        for length in [2, 4, 5, 7, 10, 12, 13, 15] {
            let spare = Self.spareBits[length % 8]!
            for (v, c) in Self.alphabet.enumerated() {
                let text = String(repeating: "a", count: length - 1) + String(Unicode.Scalar(c))
                let accepted = Base32.decode(text) != nil
                #expect(accepted == (v & ((1 << spare) - 1) == 0), "\(text)")
            }
        }
    }

    /// Every accepted text, in any case, is the canonical encoding of its bytes.
    @Test func acceptsOnlyCanonicalText() throws {
        let both = Self.alphabet + Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for a in both {
            for b in both {
                let text = String(decoding: [a, b], as: UTF8.self)
                guard let bytes = Base32.decode(text) else { continue }
                #expect(Base32.encode(bytes) == text.lowercased())
            }
        }
    }

    /// Every truncation of a valid text is rejected or decodes to a prefix of the original bytes.
    @Test func everyTruncationIsRejectedOrAPrefix() {
        let bytes = Array("the quick brown fox".utf8)
        let text = Array(Base32.encode(bytes).utf8)
        for cut in 0..<text.count {
            let prefix = String(decoding: text[..<cut], as: UTF8.self)
            if let got = Base32.decode(prefix) {
                #expect(Self.spareBits[cut % 8] != nil)
                #expect(got == Array(bytes.prefix(cut * 5 / 8)))
                #expect(Base32.encode(got) == prefix)
            } else {
                #expect(Self.spareBits[cut % 8] == nil || cut % 8 != 0)
            }
        }
    }

    /// Every other ASCII byte (including `0`, `1`, `8`, `9`, `=` padding and NUL), anywhere.
    @Test func rejectsEveryCharacterOutsideTheAlphabet() {
        let upper = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        let sample = Array(Self.sample)
        for c in UInt8(0)...0x7F where !Self.alphabet.contains(c) && !upper.contains(c) {
            let bad = String(Unicode.Scalar(c))
            for text in [bad + String(sample[1...]), String(sample[..<4]) + bad + String(sample[5...]),
                         String(sample.dropLast()) + bad, bad + "a"] {
                #expect(Base32.decode(text) == nil, "byte 0x\(String(c, radix: 16))")
            }
        }
        #expect(Base32.decode("my======") == nil)
        #expect(Base32.decode("mzxq====") == nil)
    }

    @Test(arguments: ["é", "２", "\u{FEFF}", "а", "a\u{301}"])
    func rejectsNonASCII(bad: String) {
        #expect(Base32.decode(bad) == nil)
        #expect(Base32.decode(String(Self.sample.dropLast(2)) + bad) == nil)
    }

    /// The cap counts UTF-8 bytes and applies before decoding.
    @Test func capsTheLength() {
        #expect(Base32.decode(String(repeating: "a", count: 512)) == [UInt8](repeating: 0, count: 320))
        #expect(Base32.decode(String(repeating: "a", count: 513)) == nil)
        #expect(Base32.decode(String(repeating: "a", count: 520)) == nil)
        #expect(Base32.decode(Self.sample, maxLength: 10) == Array("foobar".utf8))
        #expect(Base32.decode(Self.sample, maxLength: 9) == nil)
        #expect(Base32.decode("", maxLength: 0) == [])
    }
}
