import Testing
@testable import AirlockPolicy

@Suite struct JSONParserTests {
    func parse(_ text: String) throws(JSONParser.SyntaxError) -> JSONNode { try JSONParser.parse(Array(text.utf8)) }

    /// The syntax error for `text` as `LINE:COL path: message`.
    func failure(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "accepted"
        } catch {
            return "\(error.position) \(error.path): \(error.message)"
        }
    }

    @Test func recordsPositionsOfValuesAndKeys() throws {
        let text = "{\n  \"a\": [1, \"x\"],\n\t\"é\": {\"b\": null}\n}"
        let root = try parse(text)
        guard case .object(let m) = root.value else { Issue.record("not an object"); return }
        #expect(root.position == SourcePosition(line: 1, column: 1))
        #expect(m[0].keyPosition.description == position(of: "\"a\"", in: text))
        guard case .array(let items) = m[0].value.value else { Issue.record("not an array"); return }
        #expect(items[1].position.description == position(of: "\"x\"", in: text))
        // Columns count characters, not bytes: é is one column, a tab is one column.
        #expect(m[1].keyPosition == SourcePosition(line: 3, column: 2))
        guard case .object(let inner) = m[1].value.value else { Issue.record("not an object"); return }
        #expect(inner[0].value.position == SourcePosition(line: 3, column: 13))
    }

    @Test func decodesStringsAndNumbers() throws {
        let root = try parse(#"["a\"\\\/\b\f\n\r\t", "\u00e9\ud83d\ude00", "é😀", -0, 12.5e-3, 0, true, false, null]"#)
        guard case .array(let v) = root.value else { Issue.record("not an array"); return }
        guard case .string(let s0) = v[0].value, case .string(let s1) = v[1].value, case .string(let s2) = v[2].value else {
            Issue.record("not strings"); return
        }
        #expect(s0 == "a\"\\/\u{8}\u{c}\n\r\t")
        #expect(s1 == "é😀" && s2 == s1)
        guard case .number("-0") = v[3].value, case .number("12.5e-3") = v[4].value, case .number("0") = v[5].value,
              case .bool(true) = v[6].value, case .bool(false) = v[7].value, case .null = v[8].value else {
            Issue.record("wrong scalars"); return
        }
    }

    @Test func keepsDuplicateKeysForTheValidator() throws {
        guard case .object(let m) = try parse(#"{"a": 1, "a": 2}"#).value else { Issue.record("not an object"); return }
        #expect(m.count == 2)
    }

    @Test func skipsByteOrderMark() throws {
        _ = try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("{}".utf8))
    }

    @Test(arguments: [
        ("", "1:1 : expected a value, got end of file"),
        ("{\"a\": 1,}", "1:9 : a trailing comma before '}' is not allowed"),
        ("[1,]", "1:4 : a trailing comma before ']' is not allowed"),
        ("{\"a\": 1 // note\n}", "1:9 : expected ',' or '}' after the value of \"a\", got '/'"),
        ("{// note\n}", "1:2 : expected a key in double quotes, got '/'; JSON has no comments (use a \"note\" field)"),
        ("{'a': 1}", "1:2 : expected a key in double quotes, got '''"),
        ("{\"a\": 'x'}", "1:7 a: expected a value, got '; JSON strings use double quotes"),
        ("{\"a\" 1}", "1:6 : expected ':' after key \"a\", got '1'"),
        ("{\"a\": [1 2]}", "1:10 a: expected ',' or ']' after an array item, got '2'"),
        ("{\"a\": 01}", "1:8 a: numbers must not have leading zeros"),
        ("{\"a\": 1.}", "1:9 a: expected a digit after '.', got '}'"),
        ("{\"a\": -}", "1:8 a: expected a digit, got '}'"),
        ("{\"a\": 1e}", "1:9 a: expected a digit in the exponent, got '}'"),
        ("{\"a\": tru}", "1:7 a: expected a value, got '}' (did you mean true?)"),
        ("{\"a\": \"x", "1:9 a: a string is not closed before the end of the file"),
        ("{\"a\": \"x\ny\"}", "1:9 a: a line break inside a string; write it as an escape (\\n, \\t, \\u00XX)"),
        ("{\"a\": \"\\x\"}", "1:9 a: unknown escape \\x in a string"),
        ("{\"a\": \"\\ud800\"}", "1:9 a: unpaired surrogate \\ud800 in a string"),
        ("{\"a\": \"\\udc00\"}", "1:9 a: unpaired surrogate \\udc00 in a string"),
        ("{\"a\": \"\\u12\"}", "1:12 a: expected 4 hex digits after \\u, got '\"'"),
        ("{} {}", "1:4 : unexpected '{' after the end of the JSON document"),
        ("{\"agents\": {\"x\": {\"limits\": [1, {\"y\": @}]}}}", "1:39 agents.x.limits[1].y: expected a value, got '@'"),
        ("{\"a\": é}", "1:7 a: expected a value, got U+00E9"),
    ])
    func reportsSyntaxErrors(text: String, expected: String) {
        #expect(failure(text) == expected)
    }

    @Test func refusesInvalidUTF8WithPosition() {
        var bytes = Array("{\n  \"a\": \"".utf8)
        bytes += [0xC3, 0x28]  // a lead byte without its continuation
        bytes += Array("\"}".utf8)
        do {
            _ = try JSONParser.parse(bytes)
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.position == SourcePosition(line: 2, column: 9))
            #expect(error.message.contains("invalid UTF-8"))
        }
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xE2, 0x82]] {
            #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array("\"".utf8) + bad + Array("\"".utf8)) }
        }
    }

    @Test func capsNesting() throws {
        let ok = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        _ = try parse(ok)
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
        #expect(failure(deep).contains("nested deeper than \(JSONParser.maxDepth) levels"))
        // Far deeper input must fail the same way, not exhaust the stack.
        #expect(failure(String(repeating: "[", count: 100_000)).contains("nested deeper"))
        #expect(failure(String(repeating: "{\"a\":", count: 100_000)).contains("nested deeper"))
    }

    @Test func everyTruncationFailsCleanly() throws {
        // Cut a valid document at every byte: each prefix is either an error or (never) accepted.
        let text = Array(#"{"a": [1, -2.5e3, "x\u00e9", {"b": true}], "c": null}"#.utf8)
        _ = try JSONParser.parse(text)
        for cut in 0..<text.count {
            #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array(text[..<cut])) }
        }
    }
}

@Suite struct JSONWriterTests {
    @Test func quotesMinimally() {
        #expect(JSONWriter.quoted("a\"b\\c\nd\u{1}é") == #""a\"b\\c\nd\u0001é""#)
    }

    @Test func writesIndentedWithEmptyContainers() {
        let text = JSONWriter.write(.object([("a", .integer(1)), ("b", .array([])), ("c", .object([])), ("d", .array([.string("x")]))]))
        #expect(text == "{\n  \"a\": 1,\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    \"x\"\n  ]\n}\n")
    }
}
