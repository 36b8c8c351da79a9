/// Errors of a yamux session. Errors thrown by `receive` are peer protocol violations and fatal
/// (`isFatal`): the session has appended GoAway(protocol error) to its output and fails every later
/// `receive` with the same error. The others are refusals of an `openStream` call.
public enum YamuxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Header version byte not 0.
    case badVersion(UInt8)
    /// Header type byte above 3.
    case badType(UInt8)
    /// A Data or WindowUpdate frame on stream 0.
    case streamFrameOnSession(type: UInt8)
    /// The remote opened a stream with our parity ("both endpoints are clients").
    case wrongParity(UInt32)
    /// The remote sent SYN for a stream that is still open.
    case duplicateStream(UInt32)
    /// A Data frame longer than the receive window we granted on that stream.
    case windowExceeded(stream: UInt32, length: UInt32, window: UInt32)
    /// A WindowUpdate that would take the send window past 2^32-1.
    case windowOverflow(stream: UInt32, delta: UInt32)

    /// `openStream` after the remote sent GoAway.
    case remoteWentAway
    /// `openStream` after we sent GoAway.
    case localWentAway
    /// `openStream` with `maxPendingOutbound` streams still awaiting ACK.
    case tooManyPendingStreams
    /// Our stream IDs ran past 2^32-1.
    case streamIDsExhausted
    /// The session already failed with a protocol error.
    case sessionFailed

    /// Whether the error ended the session (a peer protocol violation).
    public var isFatal: Bool {
        switch self {
        case .badVersion, .badType, .streamFrameOnSession, .wrongParity, .duplicateStream,
             .windowExceeded, .windowOverflow, .sessionFailed: return true
        case .remoteWentAway, .localWentAway, .tooManyPendingStreams, .streamIDsExhausted: return false
        }
    }

    public var description: String {
        switch self {
        case .badVersion(let v): return "yamux: unsupported version \(v)"
        case .badType(let t): return "yamux: unknown frame type \(t)"
        case .streamFrameOnSession(let t): return "yamux: frame type \(t) on stream 0"
        case .wrongParity(let id): return "yamux: remote opened stream \(id) with our parity"
        case .duplicateStream(let id): return "yamux: duplicate SYN for live stream \(id)"
        case .windowExceeded(let id, let len, let win):
            return "yamux: \(len) bytes on stream \(id) exceed its receive window of \(win)"
        case .windowOverflow(let id, let delta): return "yamux: window delta \(delta) overflows stream \(id)"
        case .remoteWentAway: return "yamux: remote sent GoAway"
        case .localWentAway: return "yamux: we sent GoAway"
        case .tooManyPendingStreams: return "yamux: too many streams awaiting ACK"
        case .streamIDsExhausted: return "yamux: stream IDs exhausted"
        case .sessionFailed: return "yamux: session failed"
        }
    }
}
