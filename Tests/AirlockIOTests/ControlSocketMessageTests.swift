import AirlockCore
import Foundation
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct ControlSocketMessageTests {
        struct Start: Codable, Equatable {
            var argv: [String]
            var cwdIndex: Int
            var tty: Bool?
        }

        @Test func dictionaryRoundTrip() throws {
            let bytes = try ControlMessage.encode(type: "start", ["argv": ["ls", "-l"], "n": 3, "flag": true])
            #expect(String(decoding: bytes, as: UTF8.self) == #"{"argv":["ls","-l"],"flag":true,"n":3,"type":"start"}"#)
            let (type, fields) = try ControlMessage.decode(bytes)
            #expect(type == "start")
            #expect(fields["argv"] as? [String] == ["ls", "-l"])
            #expect(fields["n"] as? Int == 3)
            #expect(fields["flag"] as? Bool == true)
        }

        @Test func codableRoundTrip() throws {
            let start = Start(argv: ["claude"], cwdIndex: 3, tty: nil)
            let bytes = try ControlMessage.encode(type: "start", body: start)
            let (type, body) = try ControlMessage.decode(Start.self, from: bytes)
            #expect(type == "start")
            #expect(body == start)
        }

        @Test func codableDecodeNamesTheBadMember() throws {
            let bytes = Array(#"{"type":"start","argv":["x"]}"#.utf8)
            #expect(throws: DecodeError.invalid("control message `start`: missing cwdIndex")) {
                try ControlMessage.decode(Start.self, from: bytes)
            }
            let wrong = Array(#"{"type":"start","argv":"x","cwdIndex":1}"#.utf8)
            #expect(throws: DecodeError.invalid("control message `start`: wrong type at argv")) {
                try ControlMessage.decode(Start.self, from: wrong)
            }
        }

        @Test func encodeRefusesWhatItCannotSend() {
            #expect(throws: ControlSocketError.invalidMessage("type must be 1 to 64 bytes")) {
                try ControlMessage.encode(type: "")
            }
            #expect(throws: ControlSocketError.invalidMessage("type must be 1 to 64 bytes")) {
                try ControlMessage.encode(type: String(repeating: "t", count: 65))
            }
            #expect(throws: ControlSocketError.invalidMessage("fields must not contain `type`")) {
                try ControlMessage.encode(type: "a", ["type": "b"])
            }
            #expect(throws: ControlSocketError.invalidMessage("fields of `a` are not JSON-serialisable")) {
                try ControlMessage.encode(type: "a", ["when": Date()])
            }
            #expect(throws: ControlSocketError.messageTooLarge(size: 70_022)) {
                try ControlMessage.encode(type: "a", ["blob": String(repeating: "x", count: 70_000)])
            }
            #expect(throws: ControlSocketError.invalidMessage("body of `a` is not a JSON object")) {
                try ControlMessage.encode(type: "a", body: [1, 2])
            }
        }

        @Test(arguments: [
            ("", "control message is not valid JSON"),
            ("{", "control message is not valid JSON"),
            ("[1]", "control message is not a JSON object"),
            ("\"start\"", "control message is not valid JSON"),  // a bare fragment
            ("null", "control message is not valid JSON"),
            (#"{"type":""}"#, "control message type must be 1 to 64 bytes"),
            ("{\"type\":\"\(String(repeating: "t", count: 65))\"}", "control message type must be 1 to 64 bytes"),
            ("{\"type\":\"a\"} junk", "control message is not valid JSON"),
            ("\u{FF}", "control message is not valid JSON"),
        ])
        func decodeRejectsJunk(text: String, why: String) {
            #expect(throws: DecodeError.invalid(why)) { try ControlMessage.decode(Array(text.utf8)) }
        }

        @Test func decodeRejectsMissingOrNonStringType() {
            #expect(throws: DecodeError.missingField("type")) { try ControlMessage.decode(Array(#"{"a":1}"#.utf8)) }
            #expect(throws: DecodeError.missingField("type")) { try ControlMessage.decode(Array(#"{"type":7}"#.utf8)) }
        }

        @Test func decodeRejectsOversizeBeforeParsing() {
            let big = [UInt8](repeating: 0x20, count: ControlSocket.maxPayload + 1)
            #expect(throws: DecodeError.tooLarge(what: "control message", size: UInt64(big.count), cap: ControlSocket.maxPayload)) {
                try ControlMessage.decode(big)
            }
        }

        @Test func decodeRejectsDeepNesting() {
            let deep = Array((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)
            let bytes = Array(#"{"type":"a","x":"#.utf8) + deep.prefix(ControlSocket.maxPayload - 20) + Array("}".utf8)
            #expect(throws: DecodeError.self) { try ControlMessage.decode(bytes) }
        }

        /// Every proper prefix of a valid message is refused (a message arrives whole or not at
        /// all, so a prefix is junk, never "need more").
        @Test func everyPrefixIsRefused() throws {
            let bytes = try ControlMessage.encode(type: "start", ["argv": ["a", "b"], "env": ["K": "V"]])
            for n in 0..<bytes.count {
                #expect(throws: DecodeError.self) { try ControlMessage.decode(Array(bytes.prefix(n))) }
            }
            #expect(try ControlMessage.decode(bytes).type == "start")
        }
    }
}
