import AirlockCore

/// The identify message (`/ipfs/id/1.0.0`, wire.md §7), sent once by the answering side as
/// `uvarint(len) || protobuf`, at most 8 KiB.
///
/// All fields are optional on the wire; rust peers reject a message without `publicKey`, so an
/// answer we send should always carry it. `publicKey` is the serialised PublicKey protobuf (§3.1),
/// kept as bytes: AirlockCrypto parses it. `signedPeerRecord` (go-only field 8) is kept as opaque
/// bytes. Listen and observed addresses that do not decode are skipped. Unknown fields are skipped.
public struct IdentifyMessage: Hashable, Sendable {
    /// go reads at most 8 KiB per identify message (rust 4 KiB); we accept and send at most 8 KiB.
    public static let maxMessageLength = 8192

    public var publicKey: [UInt8]?
    public var listenAddrs: [Multiaddr]
    public var protocols: [String]
    public var observedAddr: Multiaddr?
    public var protocolVersion: String?
    public var agentVersion: String?
    public var signedPeerRecord: [UInt8]?

    public init(publicKey: [UInt8]? = nil, listenAddrs: [Multiaddr] = [], protocols: [String] = [],
                observedAddr: Multiaddr? = nil, protocolVersion: String? = nil, agentVersion: String? = nil,
                signedPeerRecord: [UInt8]? = nil) {
        self.publicKey = publicKey; self.listenAddrs = listenAddrs; self.protocols = protocols
        self.observedAddr = observedAddr; self.protocolVersion = protocolVersion; self.agentVersion = agentVersion
        self.signedPeerRecord = signedPeerRecord
    }

    /// The protobuf body (no length prefix), fields in tag order.
    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        if let publicKey { w.writeBytes(field: 1, publicKey) }
        for a in listenAddrs { w.writeBytes(field: 2, a.bytes) }
        for p in protocols { w.writeString(field: 3, p) }
        if let observedAddr { w.writeBytes(field: 4, observedAddr.bytes) }
        if let protocolVersion { w.writeString(field: 5, protocolVersion) }
        if let agentVersion { w.writeString(field: 6, agentVersion) }
        if let signedPeerRecord { w.writeBytes(field: 8, signedPeerRecord) }
        return w.bytes
    }

    /// `uvarint(len) || protobuf`. The caller keeps the message under the cap (few addresses and
    /// protocols); going over is our bug.
    public func framed() -> [UInt8] {
        let body = encode()
        precondition(body.count <= IdentifyMessage.maxMessageLength, "identify message of \(body.count) bytes is over the 8 KiB cap")
        return Delimited.frame(body)
    }

    /// Takes one framed message from `buffer`; nil (nothing consumed) until it is complete.
    public static func read(from buffer: inout ByteBuffer) throws(DecodeError) -> IdentifyMessage? {
        guard let body = try Delimited.read(from: &buffer, cap: maxMessageLength) else { return nil }
        return try IdentifyMessage(decoding: body[...])
    }

    /// Decodes a protobuf body (no length prefix).
    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        let cap = IdentifyMessage.maxMessageLength
        guard bytes.count <= cap else { throw .tooLarge(what: "identify message", size: UInt64(bytes.count), cap: cap) }
        var r = ProtoReader(bytes)
        self.init()
        while let (number, type) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(type, .lengthDelimited, field: "Identify.publicKey")
                publicKey = Array(try r.readBytes(cap: cap))
            case 2:
                try ProtoReader.expect(type, .lengthDelimited, field: "Identify.listenAddrs")
                let raw = try r.readBytes(cap: cap)
                if let a = try? Multiaddr(bytes: raw) { listenAddrs.append(a) }
            case 3:
                try ProtoReader.expect(type, .lengthDelimited, field: "Identify.protocols")
                protocols.append(try r.readString(cap: cap))
            case 4:
                try ProtoReader.expect(type, .lengthDelimited, field: "Identify.observedAddr")
                let raw = try r.readBytes(cap: cap)
                observedAddr = try? Multiaddr(bytes: raw)
            case 5:
                try ProtoReader.expect(type, .lengthDelimited, field: "Identify.protocolVersion")
                protocolVersion = try r.readString(cap: cap)
            case 6:
                try ProtoReader.expect(type, .lengthDelimited, field: "Identify.agentVersion")
                agentVersion = try r.readString(cap: cap)
            case 8:
                try ProtoReader.expect(type, .lengthDelimited, field: "Identify.signedPeerRecord")
                signedPeerRecord = Array(try r.readBytes(cap: cap))
            default: try r.skip(type)
            }
        }
    }
}
