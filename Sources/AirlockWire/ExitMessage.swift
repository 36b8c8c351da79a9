import AirlockCore

/// The messages of `/airlock/exit/1.0.0` (design §3): the agent's side sends one `ExitRequest`,
/// the exit answers one `ExitResponse`, and after an `ok` answer the stream carries raw bytes
/// both ways. Each is framed as `uvarint(len) || protobuf`, at most `ExitWire.maxMessageLength`.
///
/// ```
/// message ExitRequest  { string host = 1; uint32 port = 2; }
/// message ExitResponse { uint32 status = 1; string reason = 2; string text = 3; bytes address = 4; }
/// ```
public enum ExitWire {
    /// Requests and answers are small: a host of at most a few hundred bytes, a sentence.
    public static let maxMessageLength = 2048
    /// The longest host text a request may carry (an internationalised name in UTF-8 is longer
    /// than its 253-byte ASCII form).
    public static let maxHostLength = 1024
    /// The longest operator sentence in an answer; longer ones are cut.
    public static let maxTextLength = 512
}

/// The request: which `host:port` the agent wants. `host` is the text the client gave (a name,
/// possibly internationalised, or an IP literal); the exit normalises it.
public struct ExitRequest: Hashable, Sendable {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.writeString(field: 1, host)
        w.writeVarint(field: 2, UInt64(port))
        return w.bytes
    }

    public func framed() -> [UInt8] { Delimited.frame(encode()) }

    /// Takes one framed request from `buffer`; nil (nothing consumed) until it is whole.
    public static func read(from buffer: inout ByteBuffer) throws(DecodeError) -> ExitRequest? {
        guard let body = try Delimited.read(from: &buffer, cap: ExitWire.maxMessageLength) else { return nil }
        return try ExitRequest(decoding: body[...])
    }

    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        var r = ProtoReader(bytes)
        var host: String?
        var port: UInt64?
        while let (number, type) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitRequest.host")
                host = try r.readString(cap: ExitWire.maxHostLength)
            case 2:
                try ProtoReader.expect(type, .varint, field: "ExitRequest.port")
                port = try r.readVarint()
            default:
                try r.skip(type)
            }
        }
        guard let host, !host.isEmpty else { throw .missingField("ExitRequest.host") }
        guard let port else { throw .missingField("ExitRequest.port") }
        guard port >= 1 && port <= UInt64(UInt16.max) else { throw .invalid("ExitRequest.port \(port) is not 1-65535") }
        self.init(host: host, port: UInt16(port))
    }
}

/// The exit's answer. `reason` is a stable token (`no-destination`, `loopback`, `refused`, …)
/// that the agent's shim passes on; `text` says more, for people; `address` is the address the
/// exit connected to (with `ok`) or refused (with `blocked`).
public struct ExitResponse: Hashable, Sendable {
    public var status: Status
    public var reason: String
    public var text: String
    public var address: IPAddress?

    public init(status: Status, reason: String, text: String = "", address: IPAddress? = nil) {
        self.status = status
        self.reason = reason
        self.text = text
        self.address = address
    }

    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.writeVarint(field: 1, UInt64(status.rawValue))
        if !reason.isEmpty { w.writeString(field: 2, String(decoding: reason.utf8.prefix(64), as: UTF8.self)) }
        if !text.isEmpty { w.writeString(field: 3, ExitResponse.cut(text)) }
        if let address { w.writeBytes(field: 4, address.bytes) }
        return w.bytes
    }

    public func framed() -> [UInt8] { Delimited.frame(encode()) }

    public static func read(from buffer: inout ByteBuffer) throws(DecodeError) -> ExitResponse? {
        guard let body = try Delimited.read(from: &buffer, cap: ExitWire.maxMessageLength) else { return nil }
        return try ExitResponse(decoding: body[...])
    }

    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        var r = ProtoReader(bytes)
        var status: Status?
        var response = ExitResponse(status: .unavailable, reason: "")
        while let (number, type) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(type, .varint, field: "ExitResponse.status")
                let raw = try r.readVarint()
                guard raw <= UInt64(UInt32.max), let s = Status(rawValue: UInt32(raw)) else {
                    throw .invalid("ExitResponse.status \(raw) unknown")
                }
                status = s
            case 2:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitResponse.reason")
                response.reason = try r.readString(cap: 64)
            case 3:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitResponse.text")
                response.text = try r.readString(cap: ExitWire.maxTextLength)
            case 4:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitResponse.address")
                let raw = try r.readBytes(cap: 16)
                guard let ip = IPAddress(bytes: raw) else { throw .invalid("ExitResponse.address of \(raw.count) bytes") }
                response.address = ip
            default:
                try r.skip(type)
            }
        }
        guard let status else { throw .missingField("ExitResponse.status") }
        response.status = status
        self = response
    }

    /// At most `maxTextLength` bytes, cut on a character boundary.
    static func cut(_ text: String) -> String {
        guard text.utf8.count > ExitWire.maxTextLength else { return text }
        var out = ""
        for c in text {
            guard out.utf8.count + c.utf8.count <= ExitWire.maxTextLength else { break }
            out.append(c)
        }
        return out
    }
}

extension ExitResponse {
    /// What an exit answered, with the wire value of each.
    public enum Status: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// Connected; raw bytes follow.
        case ok = 100
        /// The policy does not allow this agent this destination (no rule, no matching destination).
        case denied = 200
        /// Every address the name resolved to is one the exit refuses (loopback, private, …) and no
        /// rule names it.
        case blocked = 201
        /// The name did not resolve.
        case unresolved = 202
        /// The connection to the checked address failed (refused, unreachable, timed out).
        case connectFailed = 203
        /// The exit cannot serve now (no policy answer, too many requests).
        case unavailable = 204
        /// The request was not understood (bad framing, bad host, port 0).
        case malformed = 400

        public var description: String {
            switch self {
            case .ok: "OK"
            case .denied: "DENIED"
            case .blocked: "BLOCKED"
            case .unresolved: "UNRESOLVED"
            case .connectFailed: "CONNECT_FAILED"
            case .unavailable: "UNAVAILABLE"
            case .malformed: "MALFORMED"
            }
        }
    }
}
