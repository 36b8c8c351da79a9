import AirlockCore

/// Writes canonical JSON: keys in the order the caller gives (the schema order), two-space
/// indent, one member per line, `{}` and `[]` for empty containers, a final newline. Strings are
/// escaped minimally (quote, backslash, control characters); other characters are written as
/// UTF-8, so the output reads like what an operator would type.
struct JSONWriter {
    /// A value to write. Numbers are integers: the policy has no other kind.
    indirect enum Value {
        case string(String)
        case integer(UInt64)
        case array([Value])
        case object([(String, Value)])
    }

    static func write(_ value: Value) -> String {
        var out = ""
        write(value, indent: 0, into: &out)
        out += "\n"
        return out
    }

    private static func write(_ value: Value, indent: Int, into out: inout String) {
        switch value {
        case .string(let s):
            out += quoted(s)
        case .integer(let n):
            out += String(n)
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                write(item, indent: indent + 2, into: &out)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{\n"
            for (i, (key, member)) in members.enumerated() {
                out += String(repeating: " ", count: indent + 2) + quoted(key) + ": "
                write(member, indent: indent + 2, into: &out)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    /// `s` as a JSON string literal (`JSONString.quote`). Other modules reach it as `JSONNode.quoted`.
    static func quoted(_ s: String) -> String { JSONString.quote(s) }
}
