import AirlockCore
@testable import AirlockWire

/// The relay vectors of wire.md §5.9 / §6.3 (Tests/Fixtures/relay-v2-messages.json).
struct RelayFixtures {
    let f: [String: String]
    let relay: PeerID
    let peerA: PeerID
    let limit = Limit(duration: 120, data: 131072)

    init() throws {
        f = try Fixtures.load("relay-v2-messages.json")
        relay = try PeerID(f["relayPeerID"]!)
        peerA = try PeerID(f["peerA"]!)
    }

    func bytes(_ key: String) -> [UInt8] { hex(f[key]!) }
}

/// Feeds `framed` one byte at a time through `read`; returns the message and checks it completes
/// exactly on the last byte and leaves following bytes untouched.
func dripFeed<M>(_ framed: [UInt8], _ read: (inout ByteBuffer) throws -> M?) throws -> M? {
    var buf = ByteBuffer()
    for (i, b) in framed.enumerated() {
        buf.write(b)
        if let m = try read(&buf) {
            guard i == framed.count - 1, buf.isEmpty else { return nil }
            buf.write([0xde, 0xad])
            guard buf.readAll() == [0xde, 0xad] else { return nil }
            return m
        }
    }
    return nil
}
