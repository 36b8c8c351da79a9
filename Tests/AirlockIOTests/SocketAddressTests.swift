#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct SocketAddressTests {
        @Test func parsesAndPrintsIPv4() throws {
            let a = try #require(SocketAddress("127.0.0.1:4001"))
            #expect(a.ip == .v4(0x7f00_0001) && a.port == 4001)
            #expect(a.description == "127.0.0.1:4001")
            #expect(a == .loopbackV4(port: 4001))
            #expect(SocketAddress("10.1.2.3:0")?.port == 0)
        }

        @Test func parsesAndPrintsIPv6() throws {
            let a = try #require(SocketAddress("[::1]:65535"))
            #expect(a.ip == .v6(0, 1) && a.port == 65535)
            #expect(a.description == "[::1]:65535")
            let b = try #require(SocketAddress("[fe80::1:2]:80"))
            #expect(b.ipString == "fe80::1:2")
            #expect(SocketAddress(ip: "[::1]", port: 9) == .loopbackV6(port: 9))
        }

        @Test func rejectsJunk() {
            for text in ["", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                         "127.0.0.1:8a", "::1:80", "[127.0.0.1]:80", "[::1:80", "256.0.0.1:1",
                         "example.com:80", "1.2.3.4: 80", "[::1]:+80"] {
                #expect(SocketAddress(text) == nil, "\(text)")
            }
        }

        @Test func roundTripsThroughSockaddr() throws {
            for a in [SocketAddress("192.168.7.9:1234")!, SocketAddress("[2001:db8::ff]:42")!] {
                var storage = sockaddr_storage()
                a.withSockAddr { sa, len in
                    withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(len))) }
                }
                #expect(SocketAddress(&storage) == a)
            }
        }
    }
}
