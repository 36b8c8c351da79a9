/// The one error every decoder of peer input throws. Peer input never traps: each decoder checks
/// lengths against a named cap and reports what was wrong in `DecodeError`.
public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended inside a value that must be complete (for whole-message decoders).
    case truncated(String)
    /// A varint that used more bytes than needed (`81 00` for 1).
    case nonMinimalVarint
    /// A varint longer than its encoding allows (9 bytes multiformats, 10 protobuf) or over 64 bits.
    case varintTooLong
    /// A declared length over the cap for that place.
    case tooLarge(what: String, size: UInt64, cap: Int)
    /// A value that parses but is not allowed (bad enum, wrong wire type, bad UTF-8, …).
    case invalid(String)
    /// A field the schema requires (proto2 `required`, or always sent by every implementation) is absent.
    case missingField(String)

    public var description: String {
        switch self {
        case .truncated(let what): return "truncated \(what)"
        case .nonMinimalVarint: return "non-minimal varint"
        case .varintTooLong: return "varint too long"
        case .tooLarge(let what, let size, let cap): return "\(what) of \(size) bytes exceeds cap of \(cap)"
        case .invalid(let why): return why
        case .missingField(let field): return "missing required field \(field)"
        }
    }
}
