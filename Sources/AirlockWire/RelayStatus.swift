import AirlockCore

/// Circuit Relay v2 `Status` (wire.md §5.3). Values this version does not know are kept as
/// `.unknown(value)` so they can be logged and answered, never dropped.
public enum RelayStatus: Hashable, Sendable, CustomStringConvertible {
    case unused
    case ok
    case reservationRefused
    case resourceLimitExceeded
    case permissionDenied
    case connectionFailed
    case noReservation
    case malformedMessage
    case unexpectedMessage
    case unknown(UInt32)

    public init(rawValue: UInt32) {
        switch rawValue {
        case 0: self = .unused
        case 100: self = .ok
        case 200: self = .reservationRefused
        case 201: self = .resourceLimitExceeded
        case 202: self = .permissionDenied
        case 203: self = .connectionFailed
        case 204: self = .noReservation
        case 400: self = .malformedMessage
        case 401: self = .unexpectedMessage
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: UInt32 {
        switch self {
        case .unused: 0
        case .ok: 100
        case .reservationRefused: 200
        case .resourceLimitExceeded: 201
        case .permissionDenied: 202
        case .connectionFailed: 203
        case .noReservation: 204
        case .malformedMessage: 400
        case .unexpectedMessage: 401
        case .unknown(let v): v
        }
    }

    /// The spec's name (`OK`, `NO_RESERVATION`, …), for logs.
    public var description: String {
        switch self {
        case .unused: "UNUSED"
        case .ok: "OK"
        case .reservationRefused: "RESERVATION_REFUSED"
        case .resourceLimitExceeded: "RESOURCE_LIMIT_EXCEEDED"
        case .permissionDenied: "PERMISSION_DENIED"
        case .connectionFailed: "CONNECTION_FAILED"
        case .noReservation: "NO_RESERVATION"
        case .malformedMessage: "MALFORMED_MESSAGE"
        case .unexpectedMessage: "UNEXPECTED_MESSAGE"
        case .unknown(let v): "UNKNOWN(\(v))"
        }
    }

    /// From a protobuf enum varint. Enum values are int32 on the wire; anything over 32 bits
    /// (a negative value sign-extended, or junk) is malformed.
    init(wire value: UInt64, field: String) throws(DecodeError) {
        guard value <= UInt64(UInt32.max) else { throw .invalid("\(field) value \(value) out of range") }
        self.init(rawValue: UInt32(value))
    }
}
