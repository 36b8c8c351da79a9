import AirlockCore
import Foundation

/// The control protocol's envelope: one JSON object per SEQPACKET message, with a string `type`
/// naming the message and the other members its fields.
///
/// Two ways to build and read one: loosely as `[String: Any]` (JSONSerialization), or from a
/// Codable body whose members sit next to `type`. Decoding is of peer input: it never traps,
/// checks the size cap first, and reports problems as `DecodeError`.
public enum ControlMessage {
    /// Longest `type` string accepted.
    public static let maxTypeLength = 64

    /// Encodes `fields` plus `type` as compact JSON with sorted keys. `fields` must not contain
    /// `type` and must be JSON-serialisable (strings, numbers, bools, NSNull, arrays, objects).
    public static func encode(type: String, _ fields: [String: Any] = [:]) throws(ControlSocketError) -> [UInt8] {
        try checkType(type)
        guard fields["type"] == nil else { throw .invalidMessage("fields must not contain `type`") }
        var object = fields
        object["type"] = type
        // JSONSerialization traps on objects it cannot represent instead of throwing.
        guard JSONSerialization.isValidJSONObject(object) else {
            throw .invalidMessage("fields of `\(type)` are not JSON-serialisable")
        }
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) } catch {
            throw .invalidMessage("\(error)")
        }
        guard data.count <= ControlSocket.maxPayload else { throw .messageTooLarge(size: data.count) }
        return [UInt8](data)
    }

    /// Encodes `body`'s members next to `type`. `body` must encode as a keyed container
    /// without a `type` member.
    public static func encode<Body: Encodable>(type: String, body: Body) throws(ControlSocketError) -> [UInt8] {
        let data: Data
        do { data = try JSONEncoder().encode(body) } catch { throw .invalidMessage("\(error)") }
        guard let fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidMessage("body of `\(type)` is not a JSON object")
        }
        return try encode(type: type, fields)
    }

    /// Decodes a message into its `type` and all its members (including `type`).
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> (type: String, fields: [String: Any]) {
        guard bytes.count <= ControlSocket.maxPayload else {
            throw .tooLarge(what: "control message", size: UInt64(bytes.count), cap: ControlSocket.maxPayload)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
            throw .invalid("control message is not valid JSON")
        }
        guard let fields = object as? [String: Any] else { throw .invalid("control message is not a JSON object") }
        guard let type = fields["type"] as? String else { throw .missingField("type") }
        guard !type.isEmpty, type.utf8.count <= maxTypeLength else {
            throw .invalid("control message type must be 1 to \(maxTypeLength) bytes")
        }
        return (type, fields)
    }

    /// Decodes a message's members into `Body` (unknown members, `type` included, are ignored)
    /// and returns its `type` with it.
    public static func decode<Body: Decodable>(_ bodyType: Body.Type, from bytes: [UInt8]) throws(DecodeError) -> (type: String, body: Body) {
        let type = try decode(bytes).type
        do {
            return (type, try JSONDecoder().decode(Body.self, from: Data(bytes)))
        } catch {
            throw .invalid("control message `\(type)`: \(describe(error))")
        }
    }

    private static func checkType(_ type: String) throws(ControlSocketError) {
        guard !type.isEmpty, type.utf8.count <= maxTypeLength else {
            throw .invalidMessage("type must be 1 to \(maxTypeLength) bytes")
        }
    }

    /// A short reason for a Codable failure, naming the member at fault.
    private static func describe(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func at(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch e {
        case .keyNotFound(let key, let ctx): return "missing \(at(ctx.codingPath + [key]))"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "wrong type at \(at(ctx.codingPath))"
        case .dataCorrupted(let ctx): return "bad value at \(at(ctx.codingPath))"
        @unknown default: return "\(e)"
        }
    }
}
