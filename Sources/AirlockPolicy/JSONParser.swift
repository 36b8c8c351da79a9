/// A strict RFC 8259 JSON parser that records where every value starts.
///
/// It reads UTF-8 only (a leading byte order mark is skipped), refuses comments, trailing commas,
/// single quotes, leading zeros, control characters in strings and unpaired surrogates, and stops
/// at the first syntax error: after one, positions of later text mean nothing. Nesting is capped
/// at `maxDepth`; the caller caps the size. Duplicate keys are kept for the validator to report.
public struct JSONParser {
    /// Deeper than any policy needs (4 levels today), shallow enough that recursion is safe.
    public static let maxDepth = 16

    public struct SyntaxError: Error, Sendable {
        public let position: SourcePosition
        /// Where in the document the parser was, as `agents.coder.limits` (empty at the top).
        public let path: String
        public let message: String
    }

    private enum PathPart { case key(String), index(Int) }

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var column = 1
    private var path: [PathPart] = []

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses one JSON document; the first syntax error is thrown with its position and path.
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONNode {
        var parser = JSONParser(bytes)
        try parser.checkUTF8()
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        parser.skipWhitespace()
        let root = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected \(parser.here) after the end of the JSON document") }
        return root
    }

    // MARK: positions and errors

    private var position: SourcePosition { SourcePosition(line: line, column: column) }
    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func advance() {
        let b = bytes[index]
        index += 1
        if b == UInt8(ascii: "\n") { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
    }

    /// The character at the cursor, for "got …" messages.
    private var here: String {
        guard let b = peek else { return "end of file" }
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        var end = index + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        let scalar = String(decoding: bytes[index..<end], as: UTF8.self).unicodeScalars.first!
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    private func error(_ message: String, at position: SourcePosition? = nil) -> SyntaxError {
        var text = ""
        for part in path {
            switch part {
            case .key(let k): text += text.isEmpty ? k : "." + k
            case .index(let i): text += "[\(i)]"
            }
        }
        return SyntaxError(position: position ?? self.position, path: text, message: message)
    }

    private mutating func checkUTF8() throws(SyntaxError) {
        var i = 0
        var line = 1, column = 1
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x80 {
                if b == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
                i += 1
                continue
            }
            var length = 0, scalar: UInt32 = 0, minimum: UInt32 = 0
            switch b {
            case 0xC2...0xDF: length = 2; scalar = UInt32(b & 0x1F); minimum = 0x80
            case 0xE0...0xEF: length = 3; scalar = UInt32(b & 0x0F); minimum = 0x800
            case 0xF0...0xF4: length = 4; scalar = UInt32(b & 0x07); minimum = 0x10000
            default: length = 0
            }
            var valid = length > 0 && i + length <= bytes.count
            if valid {
                for k in 1..<length {
                    let c = bytes[i + k]
                    if c & 0xC0 != 0x80 { valid = false; break }
                    scalar = scalar << 6 | UInt32(c & 0x3F)
                }
            }
            guard valid, scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else {
                throw SyntaxError(position: SourcePosition(line: line, column: column), path: "",
                                  message: "invalid UTF-8 (byte 0x\(String(b, radix: 16))); save the file as UTF-8")
            }
            i += length
            column += 1
        }
    }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { advance() }
    }

    // MARK: values

    private mutating func value(depth: Int) throws(SyntaxError) -> JSONNode {
        let start = position
        guard let b = peek else { throw error("expected a value, got end of file") }
        switch b {
        case UInt8(ascii: "{"): return JSONNode(value: try object(depth: depth + 1), position: start)
        case UInt8(ascii: "["): return JSONNode(value: try array(depth: depth + 1), position: start)
        case UInt8(ascii: "\""): return JSONNode(value: .string(try string()), position: start)
        case UInt8(ascii: "t"): try literal("true"); return JSONNode(value: .bool(true), position: start)
        case UInt8(ascii: "f"): try literal("false"); return JSONNode(value: .bool(false), position: start)
        case UInt8(ascii: "n"): try literal("null"); return JSONNode(value: .null, position: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return JSONNode(value: .number(try number()), position: start)
        case UInt8(ascii: "'"): throw error("expected a value, got '; JSON strings use double quotes")
        case UInt8(ascii: "/"): throw error("expected a value, got '/'; JSON has no comments (use a \"note\" field)")
        default: throw error("expected a value, got \(here)")
        }
    }

    private mutating func object(depth: Int) throws(SyntaxError) -> JSONNode.Value {
        guard depth <= JSONParser.maxDepth else { throw error("nested deeper than \(JSONParser.maxDepth) levels") }
        advance()
        skipWhitespace()
        var members: [JSONMember] = []
        if peek == UInt8(ascii: "}") { advance(); return .object(members) }
        while true {
            guard peek == UInt8(ascii: "\"") else {
                if peek == UInt8(ascii: "}") { throw error("a trailing comma before '}' is not allowed") }
                if peek == UInt8(ascii: "/") { throw error("expected a key in double quotes, got '/'; JSON has no comments (use a \"note\" field)") }
                throw error("expected a key in double quotes, got \(here)")
            }
            let keyPosition = position
            let key = try string()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':' after key \(JSONWriter.quoted(key)), got \(here)") }
            advance()
            skipWhitespace()
            path.append(.key(key))
            let v = try value(depth: depth)
            path.removeLast()
            members.append(JSONMember(key: key, keyPosition: keyPosition, value: v))
            skipWhitespace()
            if peek == UInt8(ascii: ",") { advance(); skipWhitespace(); continue }
            if peek == UInt8(ascii: "}") { advance(); return .object(members) }
            throw error("expected ',' or '}' after the value of \(JSONWriter.quoted(key)), got \(here)")
        }
    }

    private mutating func array(depth: Int) throws(SyntaxError) -> JSONNode.Value {
        guard depth <= JSONParser.maxDepth else { throw error("nested deeper than \(JSONParser.maxDepth) levels") }
        advance()
        skipWhitespace()
        var items: [JSONNode] = []
        if peek == UInt8(ascii: "]") { advance(); return .array(items) }
        while true {
            if peek == UInt8(ascii: "]") { throw error("a trailing comma before ']' is not allowed") }
            path.append(.index(items.count))
            items.append(try value(depth: depth))
            path.removeLast()
            skipWhitespace()
            if peek == UInt8(ascii: ",") { advance(); skipWhitespace(); continue }
            if peek == UInt8(ascii: "]") { advance(); return .array(items) }
            throw error("expected ',' or ']' after an array item, got \(here)")
        }
    }

    private mutating func literal(_ word: String) throws(SyntaxError) {
        let start = position
        for c in word.utf8 {
            guard peek == c else { throw error("expected a value, got \(here) (did you mean \(word)?)", at: start) }
            advance()
        }
    }

    private mutating func number() throws(SyntaxError) -> String {
        let start = index
        if peek == UInt8(ascii: "-") { advance() }
        guard let first = peek, isDigit(first) else { throw error("expected a digit, got \(here)") }
        advance()
        if first == UInt8(ascii: "0"), let next = peek, isDigit(next) { throw error("numbers must not have leading zeros") }
        while let d = peek, isDigit(d) { advance() }
        if peek == UInt8(ascii: ".") {
            advance()
            guard let d = peek, isDigit(d) else { throw error("expected a digit after '.', got \(here)") }
            while let d = peek, isDigit(d) { advance() }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            advance()
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { advance() }
            guard let d = peek, isDigit(d) else { throw error("expected a digit in the exponent, got \(here)") }
            while let d = peek, isDigit(d) { advance() }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private mutating func string() throws(SyntaxError) -> String {
        advance()
        var out: [UInt8] = []
        while true {
            guard let b = peek else { throw error("a string is not closed before the end of the file") }
            switch b {
            case UInt8(ascii: "\""):
                advance()
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                advance()
                try escape(into: &out)
            case 0x00..<0x20:
                let name = b == 0x0A ? "a line break" : b == 0x09 ? "a tab" : "control character U+00\(b < 16 ? "0" : "")\(String(b, radix: 16, uppercase: true))"
                throw error("\(name) inside a string; write it as an escape (\\n, \\t, \\u00XX)")
            default:
                out.append(b)
                advance()
            }
        }
    }

    private mutating func escape(into out: inout [UInt8]) throws(SyntaxError) {
        guard let e = peek else { throw error("a string is not closed before the end of the file") }
        let simple: [UInt8: UInt8] = [UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F,
                                      UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A,
                                      UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09]
        if let c = simple[e] { advance(); out.append(c); return }
        guard e == UInt8(ascii: "u") else { throw error("unknown escape \\\(Character(Unicode.Scalar(e))) in a string") }
        let start = position
        advance()
        var scalar = try hex4()
        if (0xD800...0xDBFF).contains(scalar) {
            guard peek == UInt8(ascii: "\\") else { throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in a string", at: start) }
            advance()
            guard peek == UInt8(ascii: "u") else { throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in a string", at: start) }
            advance()
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in a string", at: start) }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in a string", at: start)
        }
        out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let b = peek else { throw error("expected 4 hex digits after \\u, got end of file") }
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw error("expected 4 hex digits after \\u, got \(here)")
            }
            v = v << 4 | d
            advance()
        }
        return v
    }
}
