import AirlockAgent
import AirlockCore
import AirlockCrypto
import AirlockIO
#if canImport(Glibc)
import Glibc
#endif

/// What `run`, `attach` and `detach` share: reaching the relay's control socket and reading its
/// replies, with errors that say what to do next.
enum ControlCall {
    /// `--control PATH`, or the default socket.
    static func path(_ a: Arguments) throws(Arguments.UsageError) -> String {
        try a.value("control") ?? ControlProtocol.defaultPath
    }

    /// Connects to the relay at `path`.
    static func connect(_ path: String) throws(CommandFailure) -> ControlClient {
        do { return try ControlClient.connect(path: path) } catch {
            switch error {
            case .ENOENT, .ECONNREFUSED:
                throw CommandFailure("no relay is serving the control socket \(path) (\(error)); start one with `airlock relay` (as root), or give --control PATH")
            case .EACCES:
                throw CommandFailure("cannot reach the control socket \(path) (\(error)); run as root, or join group \(AgentUser.operatorGroup) (`usermod -aG \(AgentUser.operatorGroup) USER`, then log in again)")
            default:
                throw CommandFailure("cannot connect to the control socket \(path): \(error)")
            }
        }
    }

    /// Sends one request with `fds` (which stay the caller's).
    static func send<Body: Encodable>(_ client: ControlClient, _ type: String, _ body: Body, fds: [Int32] = []) throws(CommandFailure) {
        do {
            try client.send(try ControlMessage.encode(type: type, body: body), fds: fds)
        } catch let e as Errno {
            throw CommandFailure("cannot send the \(type) request to the relay: \(e)")
        } catch {
            throw CommandFailure("cannot encode the \(type) request: \(error)")
        }
    }

    /// One reply: its type and raw bytes; nil when the relay closed the connection.
    static func receive(_ client: ControlClient, timeout: Duration? = nil) throws(CommandFailure) -> (type: String, bytes: [UInt8])? {
        let message: (bytes: [UInt8], fds: [Int32])?
        do { message = try client.receive(timeout: timeout) } catch {
            if error == .ETIMEDOUT { throw CommandFailure("the relay did not answer within \(timeout.map { "\($0)" } ?? "")") }
            throw CommandFailure("cannot read the relay's answer: \(error)")
        }
        guard let message else { return nil }
        message.fds.forEach { _ = close($0) }  // replies carry none; never keep what a peer sends
        do { return (try ControlMessage.decode(message.bytes).type, message.bytes) } catch {
            throw CommandFailure("the relay sent a malformed answer: \(error)")
        }
    }

    /// Decodes a reply's body.
    static func body<Body: Decodable>(_ type: Body.Type, _ bytes: [UInt8]) throws(CommandFailure) -> Body {
        do { return try ControlMessage.decode(Body.self, from: bytes).body } catch {
            throw CommandFailure("the relay sent a malformed answer: \(error)")
        }
    }

    /// Throws the relay's refusal when `reply` is an `error`, or a failure for a closed connection.
    static func expect(_ reply: (type: String, bytes: [UInt8])?, _ what: String) throws(CommandFailure) -> (type: String, bytes: [UInt8]) {
        guard let reply else { throw CommandFailure("the relay closed the connection before answering the \(what) request") }
        if reply.type == "error" {
            throw CommandFailure("the relay refused: \(try body(ControlProtocol.Failure.self, reply.bytes).message)")
        }
        return reply
    }

    /// Opens `path` read-only and close-on-exec (`O_DIRECTORY` when `directory`), as the caller.
    static func open(_ path: String, directory: Bool = false, what: String) throws(CommandFailure) -> Int32 {
        let flags = O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0)
        let fd = Glibc.open(path, flags)
        guard fd >= 0 else { throw CommandFailure("cannot open \(what) \(path): \(Output.errnoText())") }
        return fd
    }
}
