import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
@testable import AirlockAgent

@Suite struct ShimConfigTests {
    let peer = PeerID(publicKey: Ed25519PrivateKey().publicKey)

    @Test func serviceSpecParsesAndCanonicalisesTheName() throws {
        let (name, p) = try ShimConfig.parseService("Web.Local=\(peer)")
        #expect(name == "web.local")
        #expect(p == peer)
    }

    @Test func badServiceSpecsAreRefused() {
        for bad in ["web", "=\(peer)", "web=", "web=notapeer", "we b=\(peer)", "10.0.0.1=\(peer)",
                    "web:80=\(peer)", "...=\(peer)", "w/eb=\(peer)", String(repeating: "a", count: 256) + "=\(peer)"] {
            #expect(throws: ShimConfig.ParseError.self, "\(bad)") { try ShimConfig.parseService(bad) }
        }
    }

    @Test func forwardSpecParsesPortOrAddress() throws {
        #expect(try ShimConfig.parseForward("11434=ollama") == ShimConfig.Forward(listen: .loopbackV4(port: 11434), service: "ollama"))
        #expect(try ShimConfig.parseForward("0080=web") == ShimConfig.Forward(listen: .loopbackV4(port: 80), service: "web"))
        #expect(try ShimConfig.parseForward("127.0.0.2:8080=Web") == ShimConfig.Forward(listen: SocketAddress("127.0.0.2:8080")!, service: "web"))
        #expect(try ShimConfig.parseForward("[::1]:8080=web") == ShimConfig.Forward(listen: .loopbackV6(port: 8080), service: "web"))
    }

    @Test func badForwardSpecsAreRefused() {
        for bad in ["8080", "=web", "8080=", "0=web", "65536=web", "-1=web", "+80=web", "x=web", "8080=we b",
                    "127.0.0.1:0=web", "localhost:80=web", "8080=10.0.0.1"] {
            #expect(throws: ShimConfig.ParseError.self, "\(bad)") { try ShimConfig.parseForward(bad) }
        }
    }

    @Test func defaultsAreTheProxyPortsRunAdvertises() {
        let c = ShimConfig(relay: .loopbackV4(port: 4001), relayPeer: peer)
        #expect(c.socks == .loopbackV4(port: 1080))
        #expect(c.http == .loopbackV4(port: 3128))
        #expect(c.dns == .loopbackV4(port: 53), "the resolv.conf the sandbox writes names 127.0.0.1")
        #expect(c.services.isEmpty && c.forwards.isEmpty)
    }
}
