#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockNet
@testable import AirlockAgent

/// Privileged: the shim's DNS stub on 127.0.0.1:53, in a namespace the test creates (never the
/// machine's own port 53), answering real UDP and TCP queries sent from inside that namespace.
@Suite(.serialized, .enabled(if: Privileged.shouldRun, Comment(rawValue: Privileged.missing ?? "")))
struct ShimDNSTests {
    /// Starts a shim with only its DNS stub (the relay it dials is a closed port on the
    /// namespace's loopback), runs `body`, and stops everything, namespace included.
    func withShim(_ body: (ScratchNamespace, NamespaceLoop, ShimBox) async throws -> Void) async throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        try s.namespace.bringLoopbackUp()
        let nl = try NamespaceLoop(s.namespace); defer { nl.stop() }
        let box = ShimBox()
        try await nl.loop.submit {
            var config = ShimConfig(relay: .loopbackV4(port: 9), relayPeer: PeerID(publicKey: Ed25519PrivateKey().publicKey))
            config.socks = nil
            config.http = nil
            let logger = Logger(component: "shim", minimum: .debug, fd: -1)
            let shim = Shim(host: AirlockIO.Host(loop: nl.loop, identity: Ed25519PrivateKey(), logger: logger), config: config, logger: logger)
            try shim.start()
            box.shim = shim
        }
        do { try await body(s, nl, box) } catch {
            await box.stop(on: nl.loop)
            throw error
        }
        await box.stop(on: nl.loop)
    }

    @Test func udpQueriesAreRefusedAndJunkGetsNoAnswer() async throws {
        try await withShim { s, nl, box in
            #expect(try await nl.loop.submit { box.shim.dns.map { "\($0.address)" } } == "127.0.0.1:53")
            let q = DNSStubTests.query(id: 0xBEEF)
            let answers = try s.namespace.run { () throws -> [[UInt8]?] in
                let c = try DNSClient(udp: true)
                defer { c.close() }
                try c.send(q)
                let first = c.receiveDatagram()
                try c.send([1, 2, 3])                                   // junk
                try c.send(DNSStubTests.query(id: 1, flags: 0x81))      // a response, not a query
                let none = c.receiveDatagram(timeoutMilliseconds: 300)
                try c.send(DNSStubTests.query(id: 0x0102, name: "pypi.org", type: 28))
                return [first, none, c.receiveDatagram()]
            }
            let r = try #require(answers[0])
            #expect(Array(r[0..<4]) == [0xBE, 0xEF, 0x81, 0x05], "same id, QR and RD, RCODE REFUSED")
            #expect(Array(r[4..<12]) == [0, 1, 0, 0, 0, 0, 0, 0])
            #expect(Array(r[12...]) == Array(q[12..<(12 + 17 + 4)]), "the question echoed, no records")
            #expect(answers[1] == nil, "junk and responses get no answer")
            let last = try #require(answers[2])
            #expect(Array(last[0..<4]) == [0x01, 0x02, 0x81, 0x05])
            #expect(Array(last.suffix(4)) == [0, 28, 0, 1])
            let counts = try await nl.loop.submit { (box.shim.dns!.answered, box.shim.dns!.ignored) }
            #expect(counts == (2, 2))
        }
    }

    @Test func tcpQueriesAreFramedAndAnswered() async throws {
        try await withShim { s, nl, box in
            let framed = [0x1111, 0x2222, 0x3333].map { DNSStubTests.query(id: UInt16($0)) }.map { DNSClient.frame($0) }
            let answers = try s.namespace.run { () throws -> [[UInt8]?] in
                let c = try DNSClient(udp: false)
                defer { c.close() }
                try c.send(framed[0] + framed[1])           // two in one write
                for b in framed[2] {                        // one drip-fed, a byte at a time
                    try c.send([b])
                    usleep(1000)
                }
                return (0..<3).map { _ in c.receiveFramed() }
            }
            #expect(answers.map { $0.map { UInt16($0[0]) << 8 | UInt16($0[1]) } } == [0x1111, 0x2222, 0x3333])
            for m in answers.compactMap({ $0 }) { #expect(m[2] == 0x81 && m[3] == 0x05 && m.count == 12 + 17 + 4, "\(m)") }

            // A length no query has, and a well-framed message that is no query: cut, unanswered.
            let cut = try s.namespace.run { () throws -> [Bool] in
                try [[0, 5, 1, 2, 3, 4, 5], DNSClient.frame(DNSStubTests.query(flags: 0x81)), [0xFF, 0xFF]].map { bytes in
                    let c = try DNSClient(udp: false)
                    defer { c.close() }
                    try c.send(bytes)
                    return c.receiveFramed() == nil && c.closedByPeer
                }
            }
            #expect(cut == [true, true, true])
            #expect(try await nl.loop.submit { box.shim.dns!.answered } == 3)
        }
    }

    @Test func tcpClientsAreCapped() async throws {
        try await withShim { s, nl, box in
            let cap = DNSStubServer.Limits().maxTCPClients
            let results = try s.namespace.run { () throws -> (held: Int, refused: Bool, afterwards: Bool) in
                let held = try (0..<cap).map { _ in try DNSClient(udp: false) }
                // Each answers, so all are accepted and counted before the next one.
                var answering = 0
                for c in held {
                    try c.send(DNSClient.frame(DNSStubTests.query()))
                    if c.receiveFramed() != nil { answering += 1 }
                }
                let extra = try DNSClient(udp: false)
                try? extra.send(DNSClient.frame(DNSStubTests.query()))
                let refused = extra.receiveFramed() == nil && extra.closedByPeer
                extra.close()
                held[0].close()
                usleep(100_000)  // the stub sees the close
                let next = try DNSClient(udp: false)
                defer { next.close() }
                try next.send(DNSClient.frame(DNSStubTests.query()))
                let afterwards = next.receiveFramed() != nil
                held.dropFirst().forEach { $0.close() }
                return (answering, refused, afterwards)
            }
            #expect(results.held == cap)
            #expect(results.refused, "over the cap: closed at accept")
            #expect(results.afterwards, "a freed slot is taken again")
            #expect(try await nl.loop.submit { box.shim.dns!.tcpRefused } == 1)
        }
    }

    @Test func anIdleTCPClientIsClosed() async throws {
        try Privileged.requirePrivilege()
        let s = try ScratchNamespace(); defer { s.finish() }
        try s.namespace.bringLoopbackUp()
        let nl = try NamespaceLoop(s.namespace); defer { nl.stop() }
        let box = ServerBox()
        try await nl.loop.submit {
            var limits = DNSStubServer.Limits()
            limits.tcpIdleTimeout = .milliseconds(300)
            box.server = try DNSStubServer(on: .loopbackV4(port: 53), loop: nl.loop, limits: limits, logger: Logger(fd: -1))
        }
        let outcome = Result { try s.namespace.run { () throws -> (Bool, Double) in
            let c = try DNSClient(udp: false)
            defer { c.close() }
            try c.send(DNSClient.frame(DNSStubTests.query()))
            let answered = c.receiveFramed() != nil
            let start = Date()
            _ = c.receiveFramed(timeoutMilliseconds: 5000)
            return (answered && c.closedByPeer, Date().timeIntervalSince(start))
        } }
        let clients = try await nl.loop.submit { () -> Int in
            defer { box.server?.close(); box.server = nil }  // on its loop: close deregisters
            return box.server?.tcpClients ?? -1
        }
        let (answered, closedAfter) = try outcome.get()
        #expect(answered, "answered, then closed by the stub when idle")
        #expect(closedAfter < 4, "closed after its idle timeout, not when the test gave up: \(closedAfter) s")
        #expect(clients == 0)
    }
}

/// The shim, touched only on its loop (`@unchecked Sendable`: set and read there alone).
final class ShimBox: @unchecked Sendable {
    var shim: Shim!

    func stop(on loop: EventLoop) async {
        _ = try? await loop.submit { [self] in
            shim?.stop()
            shim?.host.shutdown()
            shim = nil
        }
    }
}

/// A bare stub server, touched only on its loop (`@unchecked Sendable` as `ShimBox`).
final class ServerBox: @unchecked Sendable {
    var server: DNSStubServer?
}

/// An event loop whose thread stays inside `ns` while it runs (`NetworkNamespace.run`), so the
/// sockets made on it live in the test's namespace. `stop()` ends the loop and waits for it.
final class NamespaceLoop: @unchecked Sendable {  // `loop` is set once; the thread only runs it
    let loop: EventLoop
    private let done = DispatchSemaphore(value: 0)

    init(_ ns: NetworkNamespace) throws {
        let loop = try EventLoop()
        self.loop = loop
        let done = self.done
        let t = Thread {
            do { try ns.run { loop.run(); loop.dropAll() } } catch { Issue.record("cannot run the loop in \(ns): \(error)") }
            done.signal()
        }
        t.start()
    }

    func stop() {
        loop.stop()
        done.wait()
    }
}

/// A blocking DNS client socket to 127.0.0.1:53; create it inside the namespace (on the thread
/// `NetworkNamespace.run` gives), use it there.
final class DNSClient {
    let fd: Int32
    let udp: Bool
    private(set) var closedByPeer = false

    init(udp: Bool) throws {
        self.udp = udp
        fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DNSClientError("socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(53).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { let e = errno; Glibc.close(fd); throw DNSClientError("connect: \(String(cString: strerror(e)))") }
        var one: Int32 = 1
        if !udp { setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) }
    }

    func close() { Glibc.close(fd) }

    static func frame(_ m: [UInt8]) -> [UInt8] { [UInt8(m.count >> 8), UInt8(m.count & 0xFF)] + m }

    func send(_ bytes: [UInt8]) throws {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n == bytes.count else { throw DNSClientError("send: \(n)") }
    }

    /// One datagram, or nil when none came within the timeout.
    func receiveDatagram(timeoutMilliseconds: Int32 = 5000) -> [UInt8]? {
        guard wait(timeoutMilliseconds) else { return nil }
        var buf = [UInt8](repeating: 0, count: 1024)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : nil
    }

    /// One length-prefixed message, or nil on timeout or end of stream (then `closedByPeer`).
    func receiveFramed(timeoutMilliseconds: Int32 = 5000) -> [UInt8]? {
        guard let head = read(2, timeoutMilliseconds) else { return nil }
        return read(Int(head[0]) << 8 | Int(head[1]), timeoutMilliseconds)
    }

    private func read(_ count: Int, _ timeout: Int32) -> [UInt8]? {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: count)
        while out.count < count {
            guard wait(timeout) else { return nil }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - out.count, 0) }
            if n <= 0 { closedByPeer = true; return nil }
            out += buf[0..<n]
        }
        return out
    }

    private func wait(_ timeout: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, timeout) == 1
    }
}

struct DNSClientError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
