import Testing
@testable import AirlockCore

/// base58btc, the legacy peer-ID text form (wire.md §3.4): known vectors, leading zero bytes as
/// leading `1`s, every character outside the alphabet, the length cap, and that decoding is the
/// exact inverse of encoding (so no two texts decode to the same bytes).
@Suite struct Base58Tests {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    static let sample = "2NEpo7TZRRrLZSi2U"

    /// Deterministic bytes of every shape: `zeros` leading zero bytes, then a pattern.
    static func bytes(count: Int, zeros: Int) -> [UInt8] {
        (0..<count).map { i in i < zeros ? 0 : UInt8(truncatingIfNeeded: (i &* 151) ^ (count &* 31) ^ 0x5A) | (i == zeros ? 1 : 0) }
    }

    @Test(arguments: [
        ("", ""), ("00", "1"), ("0000", "11"), ("000001", "112"), ("39", "z"), ("3a", "21"), ("ff", "5Q"),
        ("0000287fb4cd", "11233QC4"),
        (Hex.encode("Hello World!".utf8), "2NEpo7TZRRrLZSi2U"),
        (Hex.encode("The quick brown fox jumps over the lazy dog.".utf8),
         "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"),
    ])
    func knownVectors(hex: String, text: String) throws {
        let bytes = try #require(Hex.decode(hex))
        #expect(Base58.encode(bytes) == text)
        #expect(Base58.decode(text) == bytes)
    }

    @Test func leadingZeroBytesAreLeadingOnes() throws {
        for zeros in 0...40 {
            #expect(Base58.encode([UInt8](repeating: 0, count: zeros)) == String(repeating: "1", count: zeros))
            #expect(Base58.decode(String(repeating: "1", count: zeros)) == [UInt8](repeating: 0, count: zeros))
            let bytes = [UInt8](repeating: 0, count: zeros) + [0x01, 0x02]
            let text = Base58.encode(bytes)
            #expect(text == String(repeating: "1", count: zeros) + "5T")
            #expect(Base58.decode(text) == bytes)
        }
    }

    @Test func roundTripsEveryLengthAndZeroPrefix() {
        for count in 0...64 {
            for zeros in [0, 1, 2, count / 2, count] where zeros <= count {
                let bytes = Self.bytes(count: count, zeros: zeros)
                let text = Base58.encode(bytes)
                #expect(text.utf8.allSatisfy(Self.alphabet.contains))
                #expect(Base58.decode(text) == bytes, "\(count) bytes, \(zeros) zeros")
            }
        }
    }

    /// Every one- and two-character text decodes and encodes back to itself.
    @Test func decodingIsTheInverseOfEncoding() throws {
        for a in Self.alphabet {
            let one = String(decoding: [a], as: UTF8.self)
            #expect(Base58.encode(try #require(Base58.decode(one))) == one)
            for b in Self.alphabet {
                let two = String(decoding: [a, b], as: UTF8.self)
                #expect(Base58.encode(try #require(Base58.decode(two))) == two)
            }
        }
    }

    /// Every prefix of a valid text is itself valid base58 (it has no framing to truncate), and
    /// decodes to what that prefix encodes.
    @Test func everyPrefixDecodesCanonically() throws {
        let text = Array("11" + Self.sample)
        for cut in 0...text.count {
            let prefix = String(text[..<cut])
            #expect(Base58.encode(try #require(Base58.decode(prefix))) == prefix)
        }
    }

    /// Every ASCII byte outside the alphabet (including `0`, `O`, `I`, `l`, `+`, `/`, `=` and NUL),
    /// at the start, inside the leading `1`s, in the middle and at the end.
    @Test func rejectsEveryCharacterOutsideTheAlphabet() {
        let sample = Array(Self.sample)
        for c in UInt8(0)...0x7F where !Self.alphabet.contains(c) {
            let bad = Character(Unicode.Scalar(c))
            for text in [String(bad) + Self.sample, "1" + String(bad) + "1" + Self.sample,
                         String(sample[..<8]) + String(bad) + String(sample[8...]), Self.sample + String(bad), String(bad)] {
                #expect(Base58.decode(text) == nil, "byte 0x\(String(c, radix: 16))")
            }
        }
    }

    @Test(arguments: ["é", "２", "\u{FEFF}", "𝟏", "١", "z\u{301}"])
    func rejectsNonASCII(bad: String) {
        #expect(Base58.decode(bad) == nil)
        #expect(Base58.decode(Self.sample + bad) == nil)
        #expect(Base58.decode("1" + bad) == nil)
    }

    /// The cap counts UTF-8 bytes and applies before any decoding, to leading `1`s too.
    @Test func capsTheLength() throws {
        let full = try #require(Base58.decode(String(repeating: "z", count: 256)))
        #expect(Base58.encode(full) == String(repeating: "z", count: 256))
        #expect(Base58.decode(String(repeating: "z", count: 257)) == nil)
        #expect(Base58.decode(String(repeating: "1", count: 256)) == [UInt8](repeating: 0, count: 256))
        #expect(Base58.decode(String(repeating: "1", count: 257)) == nil)
        #expect(Base58.decode(Self.sample, maxLength: Self.sample.utf8.count) != nil)
        #expect(Base58.decode(Self.sample, maxLength: Self.sample.utf8.count - 1) == nil)
        #expect(Base58.decode("", maxLength: 0) == [])
        #expect(Base58.decode(String(repeating: "é", count: 129)) == nil)
    }
}
