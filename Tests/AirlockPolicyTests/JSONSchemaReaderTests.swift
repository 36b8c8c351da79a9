import Testing
@testable import AirlockPolicy

/// The shared schema reader on its own: the policy's and the relay config's decoder tests cover
/// it through their files; these pin its contract for any other strict reader.
@Suite struct JSONSchemaReaderTests {
    typealias Field = JSONSchemaReader.Field
    static let fields = [Field(name: "name", required: true, expected: "a name"),
                         Field(name: "size", required: false, expected: "a size")]

    func node(_ text: String) throws -> JSONNode { try JSONParser.parse(Array(text.utf8)) }

    @Test func membersByKey() throws {
        var reader = JSONSchemaReader(file: "f.json")
        let object = try node(#"{"name": "x", "size": 3}"#)
        let read = reader.members(object, "", what: "an object", fields: Self.fields)
        let members = try #require(read)
        #expect(members.keys.sorted() == ["name", "size"])
        #expect(reader.problems.isEmpty)
    }

    @Test func reportsNonObjectDuplicateUnknownAndMissingKeys() throws {
        var reader = JSONSchemaReader(file: "f.json")
        let array = try node("[1]")
        let none = reader.members(array, "top", what: "an object of things", fields: Self.fields)
        #expect(none == nil)
        let text = """
        {"size": 1, "size": 2,
         "nmae": 3, "zzz": 4}
        """
        let object = try node(text)
        let read = reader.members(object, "a.b", what: "an object", fields: Self.fields)
        let members = try #require(read)
        #expect(members.keys.sorted() == ["size"])
        #expect(reader.reportedProblems.map(\.description) == [
            "f.json:1:1: top: expected an object of things, got an array",
            "f.json:1:1: a.b: missing \"name\"; expected a name",
            "f.json:1:13: a.b.size: duplicate key; \"size\" is already given at 1:2",
            "f.json:2:2: a.b.nmae: unknown field (did you mean \"name\"?); expected one of: name, size",
            "f.json:2:13: a.b.zzz: unknown field; expected one of: name, size",
        ])
    }

    /// A repeated unknown key is reported as repeated, and a repeated required key is not missing.
    @Test func aRepeatedKeyIsReportedOnce() throws {
        var reader = JSONSchemaReader(file: "f.json")
        let object = try node(#"{"x": 1, "x": 2}"#)
        _ = reader.members(object, "", what: "an object", fields: [Field(name: "other", required: false, expected: "")])
        #expect(reader.problems.map(\.message) == ["unknown field; expected one of: other", "duplicate key; \"x\" is already given at 1:2"])
        #expect(reader.problems.map(\.path) == ["x", "x"])
    }

    @Test(arguments: [("7", "7"), ("0", "0"), ("18446744073709551615", "18446744073709551615")])
    func readsUnsignedIntegers(text: String, value: String) throws {
        var reader = JSONSchemaReader(file: "f.json")
        let number = try node(text)
        let n = reader.integer(number, "n", expected: "a count", range: 0...UInt64.max)
        #expect(n.map { String($0) } == value)
        #expect(reader.problems.isEmpty)
    }

    @Test(arguments: [
        ("-1", "f.json:1:1: n: expected a count, got -1"),
        ("1.5", "f.json:1:1: n: expected a count, got 1.5"),
        ("1e3", "f.json:1:1: n: expected a count, got 1e3"),
        ("\"3\"", "f.json:1:1: n: expected a count, got \"3\""),
        ("11", "f.json:1:1: n: 11 is out of range; expected a count from 1 to 10"),
        ("0", "f.json:1:1: n: 0 is out of range; expected a count from 1 to 10"),
        ("99999999999999999999", "f.json:1:1: n: 99999999999999999999 is out of range; expected a count from 1 to 10"),
    ])
    func refusesOtherNumbers(text: String, problem: String) throws {
        var reader = JSONSchemaReader(file: "f.json")
        let number = try node(text)
        let n = reader.integer(number, "n", expected: "a count", range: 1...10 as ClosedRange<Int>)
        #expect(n == nil)
        #expect(reader.problems.map(\.description) == [problem])
    }

    @Test func sortsProblemsByPositionThenReportOrder() {
        var reader = JSONSchemaReader(file: "f.json")
        reader.report(SourcePosition(line: 2, column: 1), "b", "second")
        reader.report(SourcePosition(line: 1, column: 5), "a", "first")
        reader.report(nil, "", "whole file")
        reader.report(SourcePosition(line: 2, column: 1), "b", "third")
        #expect(reader.reportedProblems.map(\.message) == ["whole file", "first", "second", "third"])
    }

    @Test func capsTheReport() {
        var reader = JSONSchemaReader(file: "f.json")
        for i in 0..<(PolicyError.maxProblems + 5) { reader.report(SourcePosition(line: i + 1, column: 1), "", "p\(i)") }
        let reported = reader.reportedProblems
        #expect(reported.count == PolicyError.maxProblems + 1)
        #expect(reported.last?.description == "f.json: 5 more problems not shown")
    }

    @Test(arguments: [("uidd", ["uid", "note"], " (did you mean \"uid\"?)"), ("nite", ["uid", "note"], " (did you mean \"note\"?)"),
                      ("ab", ["xy"], ""), ("zzzzz", ["uid"], ""), (String(repeating: "a", count: 70), [String(repeating: "a", count: 69)], "")])
    func suggestsANearName(word: String, candidates: [String], hint: String) {
        #expect(JSONSchemaReader.suggestion(for: word, among: candidates) == hint)
    }
}
