/// Why an HTTP proxy request head was refused. Every such refusal is answered with
/// `400 Bad Request` (`HTTPProxyResponse.badRequest(reason:)`) and the connection is closed.
public struct HTTPProxyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A short, log-friendly reason (no client bytes are echoed verbatim beyond a short excerpt).
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    /// The status to answer with.
    public var status: Int { 400 }

    public var description: String { reason }
}
