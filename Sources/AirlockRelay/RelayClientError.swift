import AirlockWire

/// Why a reservation or a relayed connect failed.
///
/// `status` is what the relay (or, for a stop answer, the target) said on the wire (wire.md §5.3),
/// nil when the failure is ours: a timeout, a lost connection, or an answer that failed the
/// client-side checks (wire.md §5.4 step 6).
public struct RelayClientError: Error, Sendable, CustomStringConvertible, Equatable {
    public let status: RelayStatus?
    public let message: String

    public init(status: RelayStatus? = nil, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String {
        if let status { return "\(message) (\(status) \(status.rawValue))" }
        return message
    }
}
