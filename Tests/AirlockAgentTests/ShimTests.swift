#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockCore
import AirlockIO
import AirlockRelay
@testable import AirlockAgent

/// The shim end to end, with real curl as the agent (see `ShimLab`). One lab per test, one test
/// at a time: each binds ports and counts circuits on its own relay.
@Suite(.serialized) struct ShimTests {
    /// Runs `body` against a started lab and always shuts it down.
    func withLab(configure: @escaping @Sendable (inout ShimConfig) -> Void = { _ in },
                 _ body: (ShimLab) async throws -> Void) async throws {
        let lab = try ShimLab()
        do {
            try await lab.start(configure: configure)
            try await body(lab)
        } catch {
            await lab.shutdown()
            throw error
        }
        await lab.shutdown()
    }

    @Test func httpProxyForwardsAbsoluteURIRequestsToTheService() async throws {
        try await withLab { lab in
            let r = try await lab.viaHTTP("http://web/")
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout == ShimLab.webBody)
            // Port and path: the port is ignored for services, the path goes upstream as origin form.
            let r2 = try await lab.viaHTTP("http://WEB:8080/some/path?q=1")
            #expect(r2.stdout == ShimLab.webBody, "\(r2)")
            let heads = try await lab.onLoop { lab.webServer.heads }
            #expect(heads.count == 2)
            #expect(heads.last?.hasPrefix("GET /some/path?q=1 HTTP/1.1\r\nHost: web:8080\r\n") == true, "\(heads)")
            #expect(heads.last?.contains("Connection: close\r\n") == true)
        }
    }

    @Test func httpConnectTunnelsToTheService() async throws {
        try await withLab { lab in
            // -p: curl tunnels with CONNECT web:80 and speaks HTTP inside the tunnel.
            let r = try await lab.viaHTTP("http://web/tunnelled", ["-p"])
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout == ShimLab.webBody)
            let heads = try await lab.onLoop { lab.webServer.heads }
            // Inside a tunnel the head is the client's own, untouched.
            #expect(heads.first?.hasPrefix("GET /tunnelled HTTP/1.1\r\nHost: web\r\n") == true, "\(heads)")
        }
    }

    @Test func socksReachesTheServiceByName() async throws {
        try await withLab { lab in
            let r = try await lab.viaSOCKS("http://web/")
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout == ShimLab.webBody)
        }
    }

    @Test func forwardPortBridgesStraightToTheService() async throws {
        try await withLab { lab in
            let r = try await lab.curl(["--noproxy", "*", "http://127.0.0.1:\(lab.forwardPort)/"])
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout == ShimLab.webBody)
        }
    }

    @Test func serviceThePolicyDeniesIsRefusedWith403AndSocks2() async throws {
        try await withLab { lab in
            let r = try await lab.viaHTTP("http://other/", ["-i"])
            #expect(r.stdout.hasPrefix("HTTP/1.1 403 Forbidden\r\n"), "\(r)")
            #expect(r.stdout.contains("X-Airlock-Reason: denied-by-policy\r\n"), "\(r)")
            let connect = try await lab.viaHTTP("http://other/", ["-p"])
            #expect(connect.status != 0 && connect.stderr.contains("403"), "\(connect)")
            let s = try await lab.viaSOCKS("http://other/")
            // curl 7.88: "SOCKS5 request granted." is absent; it reports reply code 2.
            #expect(s.status != 0 && s.stdout.isEmpty, "\(s)")
            #expect(s.stderr.contains("connection not allowed by ruleset") || s.stderr.contains("(2)"), "\(s)")
            let (refused, otherStreams, refusals) = try await lab.onLoop {
                (lab.relay.counters.circuitsRefused["PERMISSION_DENIED"] ?? 0, lab.other.streamsOpened, lab.shim.refusals)
            }
            #expect(refused == 3)
            #expect(otherStreams == 0)
            #expect(refusals == ["denied-by-policy": 3])
            #expect(lab.logs.lines("shim_refused", "reason=denied-by-policy", "target=other:80").count == 3)
        }
    }

    @Test func nameThatIsNoServiceIsRefusedAsUnknown() async throws {
        try await withLab { lab in
            let r = try await lab.viaHTTP("http://example.com/", ["-i"])
            #expect(r.stdout.hasPrefix("HTTP/1.1 403 Forbidden\r\n"), "\(r)")
            #expect(r.stdout.contains("X-Airlock-Reason: unknown-service\r\n"), "\(r)")
            let ip = try await lab.viaHTTP("http://10.1.2.3/", ["-i"])
            #expect(ip.stdout.contains("X-Airlock-Reason: unknown-service\r\n"), "\(ip)")
            let s = try await lab.viaSOCKS("http://example.com/")
            #expect(s.status != 0 && s.stdout.isEmpty, "\(s)")
            let (circuits, refusals) = try await lab.onLoop { (lab.relay.counters.circuitsOpened, lab.shim.refusals) }
            // Refused in the shim: nothing reached the relay.
            #expect(circuits == 0)
            #expect(refusals == ["unknown-service": 3])
        }
    }

    @Test func fiftySequentialRequestsShareOneCircuit() async throws {
        try await withLab { lab in
            for i in 0..<50 {
                let r = i % 2 == 0 ? try await lab.viaHTTP("http://web/") : try await lab.viaSOCKS("http://web/")
                #expect(r.stdout == ShimLab.webBody, "request \(i): \(r)")
            }
            try await lab.waitUntil("all service streams finished") { lab.web.streamsFinished == 50 }
            let (opened, linkCircuits, streams, active) = try await lab.onLoop {
                (lab.relay.counters.circuitsOpened, lab.shim.links["web"]!.circuits, lab.web.streamsOpened, lab.shim.activeClients)
            }
            #expect(opened == 1)
            #expect(linkCircuits == 1)
            #expect(streams == 50)
            #expect(active == 0)
            #expect(lab.logs.lines("service_stream", "service=web", "outcome=completed").count == 50)
            #expect(lab.logs.lines("shim_stream", "target=web:80", "outcome=completed").count == 50)
        }
    }

    @Test func droppedServiceConnectionIsReplacedByTheNextRequest() async throws {
        try await withLab { lab in
            #expect(try await lab.viaHTTP("http://web/").stdout == ShimLab.webBody)
            // Cut the service's connection to the relay: its circuit ends with it.
            try await lab.onLoop { lab.web.relayClient.relayConnection!.close(reason: "test cuts the service") }
            try await lab.waitUntil("shim forgot the circuit and web reserved again") {
                lab.shim.links["web"]!.connection == nil && lab.relay.reservations.count == 2
            }
            let r = try await lab.viaHTTP("http://web/")
            #expect(r.stdout == ShimLab.webBody, "\(r)")
            let (opened, linkCircuits) = try await lab.onLoop { (lab.relay.counters.circuitsOpened, lab.shim.links["web"]!.circuits) }
            #expect(opened == 2)
            #expect(linkCircuits == 2)
        }
    }

    @Test func relayRestartAnswers502MeanwhileThenEverythingReconnects() async throws {
        try await withLab { lab in
            #expect(try await lab.viaHTTP("http://web/").stdout == ShimLab.webBody)
            let port = try await lab.onLoop { lab.relayAddr.port }
            try await lab.onLoop { lab.stopRelay() }
            try await lab.waitUntil("shim lost the relay") { lab.shim.relayLink.state != .connected }
            let down = try await lab.viaHTTP("http://web/", ["-i"])
            #expect(down.stdout.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(down)")
            #expect(down.stdout.contains("X-Airlock-Reason: relay-unavailable\r\n") || down.stdout.contains("X-Airlock-Reason: circuit-failed\r\n"),
                    "\(down)")
            let sdown = try await lab.viaSOCKS("http://web/")
            #expect(sdown.status != 0, "\(sdown)")
            // Same identity, same port: the relay is back.
            try await lab.onLoop { try lab.startRelay(port: port) }
            try await lab.waitUntil("services reserved again and shim reconnected", timeout: 20) {
                lab.relay.reservations.count == 2 && lab.shim.relayLink.state == .connected
            }
            let up = try await lab.viaHTTP("http://web/")
            #expect(up.stdout == ShimLab.webBody, "\(up)")
            let connects = try await lab.onLoop { lab.shim.relayLink.connects }
            #expect(connects == 2)
        }
    }
    @Test func bodiesAndLargeDownloadsPassThroughWhole() async throws {
        try await withLab { lab in
            let upload = ShimLabHTTPServer.pattern(200_000)
            let file = NSTemporaryDirectory() + "/airlock-shim-upload-\(getpid())"
            try Data(upload).write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            // The body follows the head in the client's first reads: the handshake leftover.
            let viaHTTP = try await lab.viaHTTP("http://web/upload", ["--data-binary", "@\(file)", "-H", "Expect:"])
            #expect(viaHTTP.stdout == ShimLab.webBody, "\(viaHTTP)")
            let viaSOCKS = try await lab.viaSOCKS("http://web/upload", ["--data-binary", "@\(file)", "-H", "Expect:"])
            #expect(viaSOCKS.stdout == ShimLab.webBody, "\(viaSOCKS)")
            let bodies = try await lab.onLoop { lab.webServer.bodies }
            #expect(bodies.count == 2)
            #expect(bodies.allSatisfy { $0 == upload })
            // 8 MiB down through a CONNECT tunnel and through the forward.
            let size = 8 << 20
            for extra in [["-p", "-x", "http://127.0.0.1:\(lab.httpPort)", "http://web/big/\(size)"],
                          ["--noproxy", "*", "http://127.0.0.1:\(lab.forwardPort)/big/\(size)"]] {
                let r = try await lab.curl(["-o", "/dev/null", "-w", "%{size_download} %{http_code}"] + extra)
                #expect(r.stdout == "\(size) 200", "\(r)")
            }
        }
    }

    @Test func requestThatIsNotAProxyRequestGets400() async throws {
        try await withLab { lab in
            // Asking the proxy itself for a page: origin form, no absolute URI.
            let r = try await lab.curl(["-i", "--noproxy", "*", "http://127.0.0.1:\(lab.httpPort)/"])
            #expect(r.stdout.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(r)")
            #expect(r.stdout.contains("X-Airlock-Reason: not a proxy request"), "\(r)")
            #expect(lab.logs.lines("shim_bad_request", "proxy=http").count == 1)
        }
    }

    @Test func silentClientsTimeOutAndTheClientCapHolds() async throws {
        try await withLab(configure: { $0.handshakeTimeout = 0.5; $0.maxClients = 2 }) { lab in
            let a = try rawConnect(port: lab.httpPort)
            let b = try rawConnect(port: lab.socksPort)
            defer { close(a); close(b) }
            try await lab.waitUntil("two clients handshaking") { lab.shim.activeClients == 2 }
            // A third is closed at accept.
            let r = try await lab.viaHTTP("http://web/")
            #expect(r.status != 0 && r.stdout.isEmpty, "\(r)")
            // The silent two are dropped after the handshake timeout.
            #expect(readsToEOF(a) && readsToEOF(b))
            try await lab.waitUntil("clients gone") { lab.shim.activeClients == 0 }
            let again = try await lab.viaHTTP("http://web/")
            #expect(again.stdout == ShimLab.webBody, "\(again)")
            let refusals = try await lab.onLoop { lab.shim.refusals }
            #expect(refusals == ["overloaded": 1])
            #expect(lab.logs.lines("shim_handshake_timeout").count == 2)
        }
    }
    @Test func handshakesDripFedOneByteAtATimeStillWork() async throws {
        try await withLab { lab in
            let httpRequest = Array("GET http://web/drip HTTP/1.1\r\nHost: web\r\nUser-Agent: drip\r\n\r\n".utf8)
            let viaHTTP = try await Task.detached { try exchange(port: lab.httpPort, httpRequest, drip: true) }.value
            #expect(viaHTTP.hasSuffix(Array(ShimLab.webBody.utf8)), "\(String(decoding: viaHTTP, as: UTF8.self))")
            let socks = socksConnect("web", 80) + Array("GET /drip HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n".utf8)
            let viaSOCKS = try await Task.detached { try exchange(port: lab.socksPort, socks, drip: true) }.value
            #expect(viaSOCKS.prefix(12) == [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0][...], "\(viaSOCKS.prefix(12))")
            #expect(viaSOCKS.hasSuffix(Array(ShimLab.webBody.utf8)))
        }
    }

    @Test func socksGreetingRequestAndPayloadInOneWrite() async throws {
        try await withLab { lab in
            // Optimistic data: the tunnel's first bytes come with the handshake (the leftover).
            let all = socksConnect("web", 443) + Array("GET /early HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n".utf8)
            let got = try await Task.detached { try exchange(port: lab.socksPort, all, drip: false) }.value
            #expect(got.prefix(12) == [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0][...])
            #expect(got.hasSuffix(Array(ShimLab.webBody.utf8)))
            let heads = try await lab.onLoop { lab.webServer.heads }
            #expect(heads.first?.hasPrefix("GET /early HTTP/1.1\r\n") == true, "\(heads)")
        }
    }
}

/// A blocking TCP connection to 127.0.0.1:`port` (reads time out after 5 s).
func rawConnect(port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let rc = withUnsafePointer(to: &sin) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { close(fd); throw ShimLabFailure("connect to port \(port) failed: errno \(errno)") }
    return fd
}

/// True when the peer closes `fd` (EOF or reset) before the read timeout, having sent nothing.
func readsToEOF(_ fd: Int32) -> Bool {
    var byte: UInt8 = 0
    let n = read(fd, &byte, 1)
    return n == 0 || (n < 0 && errno == ECONNRESET)
}

/// A SOCKS5 greeting (no auth) and a CONNECT request for a domain name.
func socksConnect(_ name: String, _ port: UInt16) -> [UInt8] {
    [5, 1, 0, 5, 1, 0, 3, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(port >> 8), UInt8(port & 0xff)]
}

/// Sends `bytes` to 127.0.0.1:`port` (one byte per write, with TCP_NODELAY, when `drip`) and
/// returns everything read until the server closes.
func exchange(port: UInt16, _ bytes: [UInt8], drip: Bool) throws -> [UInt8] {
    let fd = try rawConnect(port: port)
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    if drip {
        for b in bytes {
            var v = b
            guard write(fd, &v, 1) == 1 else { throw ShimLabFailure("write failed: errno \(errno)") }
            usleep(1000)
        }
    } else {
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { throw ShimLabFailure("short write") }
    }
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        out += buffer[..<n]
    }
    return out
}

extension Array where Element == UInt8 {
    func hasSuffix(_ s: [UInt8]) -> Bool { count >= s.count && Array(self[(count - s.count)...]) == s }
}
