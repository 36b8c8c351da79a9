import AirlockCore

/// The messages of `/airlock/exit/policy/1.0.0`: an exit peer that runs apart from the relay
/// keeps one such stream open on its connection to the relay and asks, for each request, whether
/// the source may reach `host:port` through it. The relay holds the policy and the per-run
/// identities, so it is the only one who can answer; the exit never decides alone.
///
/// ```
/// message ExitCheck   { uint64 id = 1; bytes peer = 2; string host = 3; uint32 port = 4; uint32 purpose = 5; }
/// message ExitVerdict { uint64 id = 1; bool allowed = 2; string reason = 3; string text = 4;
///                       string agent = 5; bool reloaded = 6; }
/// ```
/// Verdicts answer checks by `id`, in any order. A verdict with `reloaded` set (and id 0) answers
/// nothing: the relay applied a new policy and the exit re-checks what it holds open. Framed as
/// `uvarint(len) || protobuf`, at most `ExitWire.maxMessageLength`.
public struct ExitCheck: Hashable, Sendable {
    /// Why the exit asks. Only a `request` is an agent's attempt: a denial of one counts as a
    /// refusal (`--kill-on-deny`, `airlock status`); the others are the exit's own questions.
    public enum Purpose: UInt32, Hashable, Sendable {
        /// A request as the agent made it (name or address).
        case request = 0
        /// Whether the rule names an address the blocklist would refuse (the address as host).
        case address = 1
        /// A connection held open, asked again after a reload.
        case recheck = 2
    }

    public var id: UInt64
    public var peer: PeerID
    /// The normalised host (`NormalisedHost.description`).
    public var host: String
    public var port: UInt16
    public var purpose: Purpose

    public init(id: UInt64, peer: PeerID, host: String, port: UInt16, purpose: Purpose = .request) {
        self.id = id
        self.peer = peer
        self.host = host
        self.port = port
        self.purpose = purpose
    }

    public func framed() -> [UInt8] {
        var w = ProtoWriter()
        w.writeVarint(field: 1, id)
        w.writeBytes(field: 2, peer.bytes)
        w.writeString(field: 3, host)
        w.writeVarint(field: 4, UInt64(port))
        if purpose != .request { w.writeVarint(field: 5, UInt64(purpose.rawValue)) }
        return Delimited.frame(w.bytes)
    }

    public static func read(from buffer: inout ByteBuffer) throws(DecodeError) -> ExitCheck? {
        guard let body = try Delimited.read(from: &buffer, cap: ExitWire.maxMessageLength) else { return nil }
        return try ExitCheck(decoding: body[...])
    }

    /// Decodes a protobuf body (no length prefix).
    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        var r = ProtoReader(bytes)
        var id: UInt64?, peer: PeerID?, host: String?, port: UInt64?
        var purpose = Purpose.request
        while let (number, type) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(type, .varint, field: "ExitCheck.id")
                id = try r.readVarint()
            case 2:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitCheck.peer")
                peer = try PeerID(bytes: try r.readBytes(cap: 128))
            case 3:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitCheck.host")
                host = try r.readString(cap: ExitWire.maxHostLength)
            case 4:
                try ProtoReader.expect(type, .varint, field: "ExitCheck.port")
                port = try r.readVarint()
            case 5:
                try ProtoReader.expect(type, .varint, field: "ExitCheck.purpose")
                let raw = try r.readVarint()
                guard raw <= UInt64(UInt32.max), let p = Purpose(rawValue: UInt32(raw)) else { throw .invalid("ExitCheck.purpose \(raw) unknown") }
                purpose = p
            default:
                try r.skip(type)
            }
        }
        guard let id else { throw .missingField("ExitCheck.id") }
        guard let peer else { throw .missingField("ExitCheck.peer") }
        guard let host, !host.isEmpty else { throw .missingField("ExitCheck.host") }
        guard let port, port >= 1, port <= UInt64(UInt16.max) else { throw .invalid("ExitCheck.port missing or not 1-65535") }
        self.init(id: id, peer: peer, host: host, port: UInt16(port), purpose: purpose)
    }
}

/// The relay's answer to one `ExitCheck`, or (with `reloaded`) news of a reload.
public struct ExitVerdict: Hashable, Sendable {
    public var id: UInt64
    public var allowed: Bool
    /// The policy's stable reason (`destination`, `no-destination`, `no-rule`, …).
    public var reason: String
    public var text: String
    /// The source's entry name, when the policy knows it.
    public var agent: String?
    public var reloaded: Bool

    public init(id: UInt64, allowed: Bool, reason: String, text: String = "", agent: String? = nil, reloaded: Bool = false) {
        self.id = id
        self.allowed = allowed
        self.reason = reason
        self.text = text
        self.agent = agent
        self.reloaded = reloaded
    }

    /// The notice a relay sends after each reload.
    public static let reloadNotice = ExitVerdict(id: 0, allowed: false, reason: "reloaded", reloaded: true)

    public func framed() -> [UInt8] {
        var w = ProtoWriter()
        w.writeVarint(field: 1, id)
        w.writeVarint(field: 2, allowed ? 1 : 0)
        w.writeString(field: 3, String(decoding: reason.utf8.prefix(64), as: UTF8.self))
        if !text.isEmpty { w.writeString(field: 4, ExitResponse.cut(text)) }
        if let agent { w.writeString(field: 5, agent) }
        if reloaded { w.writeVarint(field: 6, 1) }
        return Delimited.frame(w.bytes)
    }

    public static func read(from buffer: inout ByteBuffer) throws(DecodeError) -> ExitVerdict? {
        guard let body = try Delimited.read(from: &buffer, cap: ExitWire.maxMessageLength) else { return nil }
        return try ExitVerdict(decoding: body[...])
    }

    /// Decodes a protobuf body (no length prefix).
    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        var r = ProtoReader(bytes)
        var v = ExitVerdict(id: 0, allowed: false, reason: "")
        var sawID = false
        while let (number, type) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(type, .varint, field: "ExitVerdict.id")
                v.id = try r.readVarint()
                sawID = true
            case 2:
                try ProtoReader.expect(type, .varint, field: "ExitVerdict.allowed")
                v.allowed = try r.readVarint() != 0
            case 3:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitVerdict.reason")
                v.reason = try r.readString(cap: 64)
            case 4:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitVerdict.text")
                v.text = try r.readString(cap: ExitWire.maxTextLength)
            case 5:
                try ProtoReader.expect(type, .lengthDelimited, field: "ExitVerdict.agent")
                v.agent = try r.readString(cap: 64)
            case 6:
                try ProtoReader.expect(type, .varint, field: "ExitVerdict.reloaded")
                v.reloaded = try r.readVarint() != 0
            default:
                try r.skip(type)
            }
        }
        guard sawID || v.reloaded else { throw .missingField("ExitVerdict.id") }
        self = v
    }
}
