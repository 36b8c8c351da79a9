import Testing
@testable import AirlockWire

@Suite struct ProtocolIDTests {
    static let all = [ProtocolID.multistream, ProtocolID.noise, ProtocolID.yamux, ProtocolID.hop, ProtocolID.stop,
                      ProtocolID.identify, ProtocolID.identifyPush, ProtocolID.ping, ProtocolID.airlockTCP, ProtocolID.airlockExit]

    @Test func allAreValidAndDistinct() {
        #expect(Self.all.allSatisfy(MultistreamMessage.isValidProtocolID))
        #expect(Set(Self.all).count == Self.all.count)
    }

    @Test func spellingsFromTheSpec() {
        #expect(ProtocolID.hop == "/libp2p/circuit/relay/0.2.0/hop")
        #expect(ProtocolID.stop == "/libp2p/circuit/relay/0.2.0/stop")
        #expect(ProtocolID.identifyPush == "/ipfs/id/push/1.0.0")
        #expect(ProtocolID.airlockTCP == "/airlock/tcp/1.0.0" && ProtocolID.airlockExit == "/airlock/exit/1.0.0")
    }
}
