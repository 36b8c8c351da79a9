import AirlockCore

/// The server side of a SOCKS5 handshake (RFC 1928), sans I/O: method negotiation, then one
/// CONNECT request.
///
/// Only method 0x00 (NO AUTHENTICATION REQUIRED) is offered: the proxy listens on loopback
/// inside the agent's own namespace, and identity comes from the relay, not from SOCKS. Only
/// CONNECT is served; BIND and UDP ASSOCIATE get reply 0x07. Domain names stay names (the
/// `socks5h` behaviour): they are resolved by the exit, never here (design.md §4).
///
/// Feed bytes as they arrive with `feed(from:)`. Each call consumes whole messages only and
/// returns the bytes to send (the method selection, or a failure reply) and where the handshake
/// stands. On `.request` the buffer still holds whatever followed the request: those bytes
/// belong to the tunnel. On `.failed`, send `output` and close. Messages are at most
/// `maxRequestSize` bytes, so a caller never needs to buffer more than that plus one read.
/// Not thread-safe; one per client connection.
public struct Socks5Handshake: Sendable {
    /// VER in every SOCKS5 message.
    static let version: UInt8 = 0x05
    /// METHOD 0x00: no authentication required. 0xFF: no acceptable methods (RFC 1928 §3).
    static let methodNoAuth: UInt8 = 0x00
    static let methodNoneAcceptable: UInt8 = 0xFF
    /// CMD values (RFC 1928 §4).
    static let commandConnect: UInt8 = 0x01
    /// The longest greeting: VER NMETHODS and 255 methods.
    public static let maxGreetingSize = 2 + 255
    /// The longest request: VER CMD RSV ATYP, a 1-byte length and 255-byte name, then the port.
    public static let maxRequestSize = 4 + 1 + 255 + 2

    /// ATYP values (RFC 1928 §5).
    enum AddressType: UInt8 {
        case ipv4 = 0x01
        case domainName = 0x03
        case ipv6 = 0x04
    }

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// The first byte was not 5 (SOCKS4, HTTP, or junk). Nothing is sent back.
        case notSocks5(UInt8)
        /// The client offered no method we accept (we accept only NO AUTH).
        case noAcceptableMethod
        /// The request's VER or RSV byte was wrong.
        case malformedRequest(String)
        /// BIND (2), UDP ASSOCIATE (3) or an unknown command.
        case unsupportedCommand(UInt8)
        case unsupportedAddressType(UInt8)
        /// The address or port names nothing we can forward to.
        case invalidTarget(String)

        public var description: String {
            switch self {
            case .notSocks5(let v): return "not a SOCKS5 client (version byte \(v))"
            case .noAcceptableMethod: return "client offers no acceptable authentication method"
            case .malformedRequest(let why): return "malformed SOCKS5 request: \(why)"
            case .unsupportedCommand(let c): return "unsupported SOCKS5 command \(c)"
            case .unsupportedAddressType(let t): return "unsupported SOCKS5 address type \(t)"
            case .invalidTarget(let why): return "invalid SOCKS5 target: \(why)"
            }
        }
    }

    public enum Outcome: Equatable, Sendable {
        /// Waiting for more bytes.
        case needMore
        /// The client asked to CONNECT to this target. Answer with `Socks5Reply.message` once
        /// the outcome is known; the buffer's remaining bytes are tunnel payload.
        case request(ProxyTarget)
        /// The handshake failed: send `output` (possibly empty), then close.
        case failed(Failure)
    }

    public struct Step: Equatable, Sendable {
        /// Bytes to send to the client now.
        public var output: [UInt8]
        public var outcome: Outcome
    }

    private enum State { case greeting, request, done }
    private var state = State.greeting

    public init() {}

    /// Consumes whole messages from `buffer` (see the type's contract). Must not be called again
    /// after a `.request` or `.failed` outcome.
    public mutating func feed(from buffer: inout ByteBuffer) -> Step {
        precondition(state != .done, "SOCKS5 handshake fed after it finished")
        var output: [UInt8] = []
        if state == .greeting {
            switch Socks5Handshake.readGreeting(&buffer) {
            case nil:
                return Step(output: output, outcome: .needMore)
            case .failure(let failure):
                state = .done
                if failure == .noAcceptableMethod { output = [Socks5Handshake.version, Socks5Handshake.methodNoneAcceptable] }
                return Step(output: output, outcome: .failed(failure))
            case .success:
                output = [Socks5Handshake.version, Socks5Handshake.methodNoAuth]
                state = .request
            }
        }
        // A client may send its request right behind the greeting without waiting.
        switch Socks5Handshake.readRequest(&buffer) {
        case nil:
            return Step(output: output, outcome: .needMore)
        case .failure(let failure):
            state = .done
            output += Socks5Handshake.replyCode(for: failure).message
            return Step(output: output, outcome: .failed(failure))
        case .success(let target):
            state = .done
            return Step(output: output, outcome: .request(target))
        }
    }

    /// The reply that reports `failure` to the client.
    static func replyCode(for failure: Failure) -> Socks5Reply {
        switch failure {
        case .unsupportedCommand: return .commandNotSupported
        case .unsupportedAddressType: return .addressTypeNotSupported
        default: return .generalFailure
        }
    }

    // MARK: messages

    /// `VER NMETHODS METHODS…` (RFC 1928 §3); consumes it only when whole.
    private static func readGreeting(_ buffer: inout ByteBuffer) -> Result<Void, Failure>? {
        guard let ver = buffer.peek(at: 0) else { return nil }
        guard ver == version else { return .failure(.notSocks5(ver)) }
        guard let count = buffer.peek(at: 1) else { return nil }
        let total = 2 + Int(count)
        guard buffer.readableBytes >= total else { return nil }
        let methods = buffer.peekBytes(count: total)!.dropFirst(2)
        buffer.skip(total)
        return methods.contains(methodNoAuth) ? .success(()) : .failure(.noAcceptableMethod)
    }

    /// `VER CMD RSV ATYP DST.ADDR DST.PORT` (RFC 1928 §4); consumes it only when whole.
    /// An unsupported command is refused as soon as its byte arrives, without waiting for the
    /// address: the connection closes anyway.
    private static func readRequest(_ buffer: inout ByteBuffer) -> Result<ProxyTarget, Failure>? {
        guard let ver = buffer.peek(at: 0) else { return nil }
        guard ver == version else { return .failure(.malformedRequest("version byte \(ver)")) }
        guard let cmd = buffer.peek(at: 1) else { return nil }
        guard cmd == commandConnect else { return .failure(.unsupportedCommand(cmd)) }
        guard let rsv = buffer.peek(at: 2), let atypByte = buffer.peek(at: 3) else { return nil }
        guard rsv == 0 else { return .failure(.malformedRequest("reserved byte \(rsv)")) }
        guard let atyp = AddressType(rawValue: atypByte) else { return .failure(.unsupportedAddressType(atypByte)) }
        let addressStart: Int, addressLength: Int
        switch atyp {
        case .ipv4: addressStart = 4; addressLength = 4
        case .ipv6: addressStart = 4; addressLength = 16
        case .domainName:
            guard let n = buffer.peek(at: 4) else { return nil }
            guard n > 0 else { return .failure(.invalidTarget("empty domain name")) }
            addressStart = 5; addressLength = Int(n)
        }
        let total = addressStart + addressLength + 2
        guard let message = buffer.peekBytes(count: total) else { return nil }
        buffer.skip(total)
        let base = message.startIndex
        let address = message[(base + addressStart)..<(base + addressStart + addressLength)]
        let port = UInt16(message[base + total - 2]) << 8 | UInt16(message[base + total - 1])
        guard port != 0 else { return .failure(.invalidTarget("port 0")) }
        let target: ProxyTarget?
        if atyp == .domainName {
            target = ProxyTarget.canonicalHost(address).flatMap { ProxyTarget(host: $0, port: port) }
        } else {
            target = IPAddress(bytes: address).flatMap { ProxyTarget(address: $0, port: port) }
        }
        guard let target else { return .failure(.invalidTarget("unusable host name")) }
        return .success(target)
    }
}
