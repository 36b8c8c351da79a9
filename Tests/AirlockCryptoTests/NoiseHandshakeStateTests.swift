import Foundation
import Testing
import AirlockCore
@testable import AirlockCrypto

/// The cacophony-format vectors in Tests/Fixtures/noise-25519-chachapoly-sha256.json: every
/// pattern there, handshake then transport messages, both sides checked.
@Suite struct NoiseHandshakeStateTests {
    struct Vector: Decodable {
        struct Message: Decodable { let payload: String; let ciphertext: String }
        let protocol_name: String
        let init_prologue: String
        let resp_prologue: String
        let init_static: String?
        let init_ephemeral: String
        let resp_static: String?
        let resp_ephemeral: String?
        let init_remote_static: String?
        let resp_remote_static: String?
        let handshake_hash: String
        let messages: [Message]
    }
    struct File: Decodable { let vectors: [Vector] }

    static func vectors() throws -> [Vector] {
        try JSONDecoder().decode(File.self, from: Fixtures.data("noise-25519-chachapoly-sha256.json")).vectors
    }

    @Test func fileHasAllVectors() throws {
        #expect(try Self.vectors().count == 38)
    }

    @Test(arguments: try! NoiseHandshakeStateTests.vectors())
    func vector(_ v: Vector) throws {
        func pair(_ h: String?) throws -> X25519KeyPair? { try h.map { try X25519KeyPair(privateKeyBytes: hex($0)) } }
        var initiator = try NoiseHandshakeState(protocolName: v.protocol_name, initiator: true,
                                                prologue: hex(v.init_prologue), s: pair(v.init_static),
                                                rs: v.init_remote_static.map(hex), ephemeral: pair(v.init_ephemeral))
        var responder = try NoiseHandshakeState(protocolName: v.protocol_name, initiator: false,
                                                prologue: hex(v.resp_prologue), s: pair(v.resp_static),
                                                rs: v.resp_remote_static.map(hex), ephemeral: pair(v.resp_ephemeral))
        let handshakeCount = initiator.pattern.messages.count
        var index = 0
        while index < handshakeCount {
            let m = v.messages[index]
            let initiatorSends = index % 2 == 0
            if initiatorSends {
                #expect(Hex.encode(try initiator.writeMessage(payload: hex(m.payload))) == m.ciphertext, "\(v.protocol_name) msg \(index)")
                #expect(Hex.encode(try responder.readMessage(hex(m.ciphertext)[...])) == m.payload)
            } else {
                #expect(Hex.encode(try responder.writeMessage(payload: hex(m.payload))) == m.ciphertext, "\(v.protocol_name) msg \(index)")
                #expect(Hex.encode(try initiator.readMessage(hex(m.ciphertext)[...])) == m.payload)
            }
            index += 1
        }
        #expect(initiator.isFinished && responder.isFinished)
        #expect(Hex.encode(initiator.handshakeHash) == v.handshake_hash)
        #expect(Hex.encode(responder.handshakeHash) == v.handshake_hash)

        var (i1, i2) = initiator.split()
        var (r1, r2) = responder.split()
        while index < v.messages.count {
            let m = v.messages[index]
            // One-way patterns only carry initiator→responder traffic; others keep alternating.
            let initiatorSends = initiator.pattern.isOneWay || index % 2 == 0
            if initiatorSends {
                #expect(Hex.encode(try i1.encryptWithAd([], hex(m.payload))) == m.ciphertext, "\(v.protocol_name) msg \(index)")
                #expect(Hex.encode(try r1.decryptWithAd([], hex(m.ciphertext)[...])) == m.payload)
            } else {
                #expect(Hex.encode(try r2.encryptWithAd([], hex(m.payload))) == m.ciphertext, "\(v.protocol_name) msg \(index)")
                #expect(Hex.encode(try i2.decryptWithAd([], hex(m.ciphertext)[...])) == m.payload)
            }
            index += 1
        }
    }
}

extension NoiseHandshakeStateTests.Vector: CustomTestStringConvertible {
    var testDescription: String { protocol_name }
}
