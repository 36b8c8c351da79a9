/// Why the control socket could not be set up or a control message could not be built.
///
/// Every setup case says what an operator should do about it, since the relay prints it and
/// exits.
public enum ControlSocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed; `context` names the call and the path.
    case system(Errno, context: String)
    /// The socket's directory exists but is not safe to hold a root-owned control socket.
    case unsafeDirectory(path: String, problem: String, fix: String)
    /// The socket path exists and is not a socket: it is left alone.
    case notASocket(path: String)
    /// Something is already accepting connections on the socket path (another relay).
    case alreadyListening(path: String)
    /// A message payload over `ControlSocket.maxPayload` bytes.
    case messageTooLarge(size: Int)
    /// An envelope that cannot be encoded (not JSON-serialisable, bad or missing `type`).
    case invalidMessage(String)

    public var description: String {
        switch self {
        case .system(let e, let context):
            return "\(context): \(e)"
        case .unsafeDirectory(let path, let problem, let fix):
            return "control socket directory \(path) \(problem); fix it with `\(fix)` or choose another socket path"
        case .notASocket(let path):
            return "\(path) exists and is not a socket; remove it or choose another socket path"
        case .alreadyListening(let path):
            return "another process is already listening on \(path) (is a relay already running?); stop it or choose another socket path"
        case .messageTooLarge(let size):
            return "control message of \(size) bytes exceeds cap of \(ControlSocket.maxPayload)"
        case .invalidMessage(let why):
            return "invalid control message: \(why)"
        }
    }
}
