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

    /// `s` as a JSON string literal. DEL is escaped with the control characters, so a terminal
    /// never receives it raw. Other modules reach it as `JSONNode.quoted`.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
