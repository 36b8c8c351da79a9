/// The responses the shim's HTTP proxy writes itself (RFC 9112 status line and fields).
///
/// Refusals carry the reason twice: in an `X-Airlock-Reason` header for tools and tests, and in
/// a short plain-text body for a person reading a failed `curl`. Every refusal closes the
/// connection (`Connection: close`, with a `Content-Length` so the body is delimited). Reasons
/// are reduced to printable ASCII and `maxReasonLength` characters, so no reason (which may
/// quote a client's or a policy's text) can break the header block.
public enum HTTPProxyResponse {
    public static let maxReasonLength = 200

    /// The answer to a granted CONNECT; tunnel bytes follow it.
    public static let connectionEstablished: [UInt8] = Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)

    /// 400: the request could not be parsed or is not a proxy request.
    public static func badRequest(reason: String) -> [UInt8] {
        refusal(status: 400, phrase: "Bad Request", reason: reason)
    }

    /// 403: the policy (or the relay) does not allow this target.
    public static func forbidden(reason: String) -> [UInt8] {
        refusal(status: 403, phrase: "Forbidden", reason: reason)
    }

    /// 502: the target could not be reached (refused, unreachable, the stream failed).
    public static func badGateway(reason: String) -> [UInt8] {
        refusal(status: 502, phrase: "Bad Gateway", reason: reason)
    }

    /// 504: the target did not answer in time.
    public static func gatewayTimeout(reason: String) -> [UInt8] {
        refusal(status: 504, phrase: "Gateway Timeout", reason: reason)
    }

    static func refusal(status: Int, phrase: String, reason: String) -> [UInt8] {
        let clean = sanitise(reason)
        let body = "airlock: \(status) \(phrase.lowercased()): \(clean)\n"
        let head = "HTTP/1.1 \(status) \(phrase)\r\n"
            + "X-Airlock-Reason: \(clean)\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n"
        return Array((head + body).utf8)
    }

    /// Printable ASCII only (others become `?`), trimmed to `maxReasonLength`; never empty.
    static func sanitise(_ reason: String) -> String {
        var out = ""
        for scalar in reason.unicodeScalars.prefix(maxReasonLength) {
            out.unicodeScalars.append(scalar.value >= 0x20 && scalar.value < 0x7F ? scalar : "?")
        }
        let trimmed = Substring(out).drop(while: { $0 == " " })
        return trimmed.isEmpty ? "unspecified" : String(trimmed)
    }
}
