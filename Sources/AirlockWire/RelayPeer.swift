import AirlockCore

/// Circuit Relay v2 `Peer` (wire.md §5.3): a peer ID and the addresses it may be reached at.
///
/// `id` is required (always written, absence is `DecodeError.missingField`). Addresses that do not
/// decode are skipped (see `RelayWire.appendAddress`), so re-encoding may carry fewer addresses.
public struct RelayPeer: Hashable, Sendable {
    public var id: PeerID
    public var addrs: [Multiaddr]

    public init(id: PeerID, addrs: [Multiaddr] = []) { self.id = id; self.addrs = addrs }

    /// The protobuf body (no length prefix).
    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.writeBytes(field: 1, id.bytes)
        for a in addrs { w.writeBytes(field: 2, a.bytes) }
        return w.bytes
    }

    /// Decodes a protobuf body; unknown fields are skipped.
    public init(decoding bytes: ArraySlice<UInt8>) throws(DecodeError) {
        var r = ProtoReader(bytes)
        var id: PeerID?
        var addrs: [Multiaddr] = []
        while let (number, type) = try r.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(type, .lengthDelimited, field: "Peer.id")
                let raw = try r.readBytes(cap: RelayWire.maxMessageLength)
                do { id = try PeerID(bytes: raw) } catch { throw .invalid("Peer.id: \(error)") }
            case 2:
                try ProtoReader.expect(type, .lengthDelimited, field: "Peer.addrs")
                RelayWire.appendAddress(try r.readBytes(cap: RelayWire.maxMessageLength), to: &addrs)
            default: try r.skip(type)
            }
        }
        guard let id else { throw .missingField("Peer.id") }
        self.init(id: id, addrs: addrs)
    }
}
