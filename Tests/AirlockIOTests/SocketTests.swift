#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct SocketTests {
        static func isCloseOnExec(_ s: Socket) -> Bool { fcntl(s.fd, F_GETFD) & FD_CLOEXEC != 0 }
        static func isNonBlocking(_ s: Socket) -> Bool { fcntl(s.fd, F_GETFL) & O_NONBLOCK != 0 }

        @Test(arguments: [SocketAddress.loopbackV4(port: 0), .loopbackV6(port: 0)])
        func listenConnectAcceptAndTransfer(on address: SocketAddress) throws {
            let listener = try Socket.listenTCP(on: address)
            defer { listener.close() }
            let bound = try listener.localAddress()
            #expect(bound.ip == address.ip && bound.port != 0)
            #expect(try listener.accept() == nil)   // nothing pending: would block, not an error

            let (client, _) = try Socket.connectTCP(to: bound)
            defer { client.close() }
            var server: Socket?
            for _ in 0..<1000 where server == nil { server = try listener.accept(); if server == nil { usleep(1000) } }
            let s = try #require(server)
            defer { s.close() }
            for sock in [listener, client, s] {
                #expect(Self.isCloseOnExec(sock))
                #expect(Self.isNonBlocking(sock))
            }
            #expect(try s.remoteAddress() == client.localAddress())

            var buf = [UInt8](repeating: 0, count: 16)
            #expect(try buf.withUnsafeMutableBytes { try s.read(into: $0) } == nil)
            let sent = try [UInt8]("hello".utf8).withUnsafeBytes { try client.write($0) }
            #expect(sent == 5)
            try client.shutdownWrite()
            var got: [UInt8] = []
            for _ in 0..<1000 {
                let n = try buf.withUnsafeMutableBytes { try s.read(into: $0) }
                if n == 0 { break }
                if let n { got += buf[..<n] } else { usleep(1000) }
            }
            #expect(got == Array("hello".utf8))
        }

        @Test func writevGathersBuffers() throws {
            let listener = try Socket.listenTCP(on: .loopbackV4(port: 0))
            defer { listener.close() }
            let (client, _) = try Socket.connectTCP(to: try listener.localAddress())
            defer { client.close() }
            usleep(10_000)
            let s = try #require(try listener.accept())
            defer { s.close() }
            usleep(10_000)   // connect completes
            let a: [UInt8] = [1, 2, 3], b: [UInt8] = [4, 5]
            let n = try a.withUnsafeBytes { pa in
                try b.withUnsafeBytes { pb in try [pa, pb].withUnsafeBufferPointer { try client.writev($0) } }
            }
            #expect(n == 5)
            usleep(10_000)
            var buf = [UInt8](repeating: 0, count: 16)
            let got = try buf.withUnsafeMutableBytes { try s.read(into: $0) }
            #expect(got == 5 && Array(buf[..<5]) == [1, 2, 3, 4, 5])
        }

        @Test func connectToAClosedPortIsRefused() throws {
            let listener = try Socket.listenTCP(on: .loopbackV4(port: 0))
            let address = try listener.localAddress()
            listener.close()
            // Loopback may refuse at once or report it through SO_ERROR once writable.
            do {
                let (s, connected) = try Socket.connectTCP(to: address)
                defer { s.close() }
                #expect(!connected)
                var error: Errno?
                for _ in 0..<1000 where error == nil { error = s.takeError(); if error == nil { usleep(1000) } }
                #expect(error == .ECONNREFUSED)
            } catch {
                #expect(error == .ECONNREFUSED)
            }
        }

        @Test func listeningTwiceOnOnePortFails() throws {
            let a = try Socket.listenTCP(on: .loopbackV4(port: 0))
            defer { a.close() }
            #expect(throws: Errno.EADDRINUSE) { try Socket.listenTCP(on: a.localAddress()) }
        }

        @Test func optionsApply() throws {
            let s = try Socket.listenTCP(on: .loopbackV4(port: 0))
            defer { s.close() }
            try s.setNoDelay()
            try s.setReceiveBufferSize(64 * 1024)
            try s.setSendBufferSize(64 * 1024)
            var v: Int32 = 0
            var len = socklen_t(4)
            getsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &v, &len)
            #expect(v >= 64 * 1024)   // the kernel doubles it
            // Binding to a device needs CAP_NET_RAW on older kernels; both outcomes are explicit.
            do {
                try s.bindToDevice("lo")
                try s.bindToDevice("")
            } catch {
                #expect(error == .EPERM)
            }
            #expect(throws: Errno.self) { try s.bindToDevice("no-such-dev0") }
        }

        @Test(arguments: [SocketAddress.loopbackV4(port: 0), .loopbackV6(port: 0)])
        func datagramsCarryTheirSenderAndAreCutToTheBuffer(on address: SocketAddress) throws {
            let a = try Socket.bindUDP(on: address), b = try Socket.bindUDP(on: address)
            defer { a.close(); b.close() }
            for sock in [a, b] { #expect(Self.isCloseOnExec(sock) && Self.isNonBlocking(sock)) }
            let bAddress = try b.localAddress()
            #expect(bAddress.ip == address.ip && bAddress.port != 0)
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
            defer { buf.deallocate() }
            #expect(try b.receive(into: buf) == nil)   // nothing waiting: would block, not an error

            let message: [UInt8] = Array(0..<12)
            #expect(try message.withUnsafeBytes { try a.send($0, to: bAddress) })
            var got: (count: Int, from: SocketAddress)?
            for _ in 0..<1000 where got == nil { got = try b.receive(into: buf); if got == nil { usleep(1000) } }
            let g = try #require(got)
            #expect(g.count == 8 && Array(buf) == Array(message[0..<8]), "cut to the buffer")
            #expect(g.from == (try a.localAddress()))
            #expect(try b.receive(into: buf) == nil, "the rest of the datagram is gone")
            #expect(throws: Errno.self) { _ = try Socket.bindUDP(on: bAddress) }  // no SO_REUSEADDR
        }
    }
}
