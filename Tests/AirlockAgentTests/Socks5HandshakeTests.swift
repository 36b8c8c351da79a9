import Testing
import AirlockCore
@testable import AirlockAgent

@Suite struct Socks5HandshakeTests {
    static let greeting: [UInt8] = [5, 1, 0]
    static let methodSelected: [UInt8] = [5, 0]

    /// A CONNECT request for `atyp` with `address` bytes (a length byte is added for names).
    static func request(atyp: UInt8, _ address: [UInt8], port: UInt16, cmd: UInt8 = 1) -> [UInt8] {
        [5, cmd, 0, atyp] + (atyp == 3 ? [UInt8(address.count)] : []) + address + [UInt8(port >> 8), UInt8(port & 0xff)]
    }

    /// Feeds everything at once; returns all output, the last outcome and what is left.
    static func whole(_ bytes: [UInt8]) -> (output: [UInt8], outcome: Socks5Handshake.Outcome, left: [UInt8]) {
        var h = Socks5Handshake()
        var buffer = ByteBuffer(bytes)
        var output: [UInt8] = []
        var step = h.feed(from: &buffer)
        output += step.output
        // A greeting alone ends with needMore; the request may already be in the same bytes.
        if step.outcome == .needMore && !buffer.isEmpty {
            step = h.feed(from: &buffer)
            output += step.output
        }
        return (output, step.outcome, buffer.readAll())
    }

    /// Feeds one byte at a time until the handshake decides; returns the same as `whole`.
    static func dripped(_ bytes: [UInt8]) -> (output: [UInt8], outcome: Socks5Handshake.Outcome, left: [UInt8]) {
        var h = Socks5Handshake()
        var buffer = ByteBuffer()
        var output: [UInt8] = []
        for (i, b) in bytes.enumerated() {
            buffer.write(b)
            let step = h.feed(from: &buffer)
            output += step.output
            if step.outcome != .needMore { return (output, step.outcome, buffer.readAll() + bytes[(i + 1)...]) }
        }
        return (output, .needMore, buffer.readAll())
    }

    static func both(_ bytes: [UInt8]) -> (output: [UInt8], outcome: Socks5Handshake.Outcome, left: [UInt8]) {
        let a = whole(bytes), b = dripped(bytes)
        #expect(a.output == b.output)
        #expect(a.outcome == b.outcome)
        #expect(a.left == b.left)
        return a
    }

    @Test func connectByDomainNameKeepsTheName() throws {
        let r = Self.both(Self.greeting + Self.request(atyp: 3, Array("Api.Example.com".utf8), port: 443) + [0xAA, 0xBB])
        #expect(r.output == Self.methodSelected)
        #expect(r.outcome == .request(ProxyTarget(host: "api.example.com", port: 443)!))
        #expect(r.left == [0xAA, 0xBB])
    }

    @Test func connectByIPv4AndIPv6() {
        let v4 = Self.both(Self.greeting + Self.request(atyp: 1, [127, 0, 0, 1], port: 11434))
        #expect(v4.outcome == .request(ProxyTarget(host: "127.0.0.1", port: 11434)!))
        #expect(v4.left.isEmpty)
        let v6 = Self.both(Self.greeting + Self.request(atyp: 4, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1], port: 80))
        #expect(v6.outcome == .request(ProxyTarget(host: "2001:db8::1", port: 80)!))
    }

    @Test func greetingWithSeveralMethodsIncludingNoAuth() {
        let r = Self.both([5, 3, 2, 1, 0] + Self.request(atyp: 1, [1, 2, 3, 4], port: 1))
        #expect(r.output == Self.methodSelected)
        #expect(r.outcome == .request(ProxyTarget(host: "1.2.3.4", port: 1)!))
    }

    @Test func greetingAloneWaitsForTheRequest() {
        var h = Socks5Handshake()
        var buffer = ByteBuffer(Self.greeting)
        let step = h.feed(from: &buffer)
        #expect(step == Socks5Handshake.Step(output: Self.methodSelected, outcome: .needMore))
        #expect(buffer.isEmpty)
        let next = h.feed(from: &buffer)
        #expect(next == Socks5Handshake.Step(output: [], outcome: .needMore))
    }

    @Test func noAcceptableMethodIsAnswered0xFF() {
        for greeting: [UInt8] in [[5, 1, 2], [5, 2, 1, 2], [5, 0]] {
            let r = Self.both(greeting + [0xEE])
            #expect(r.output == [5, 0xFF])
            #expect(r.outcome == .failed(.noAcceptableMethod))
        }
    }

    @Test func notSocks5IsRefusedSilently() {
        for junk: [UInt8] in [[4, 1, 0, 80], Array("GET / HTTP/1.1\r\n".utf8), [0]] {
            let r = Self.both(junk)
            #expect(r.output.isEmpty)
            #expect(r.outcome == .failed(.notSocks5(junk[0])))
        }
    }

    @Test func bindAndUDPAssociateGetCommandNotSupported() {
        for cmd: UInt8 in [2, 3, 0, 9] {
            let r = Self.both(Self.greeting + Self.request(atyp: 1, [1, 2, 3, 4], port: 80, cmd: cmd))
            #expect(r.output == Self.methodSelected + Socks5Reply.commandNotSupported.message)
            #expect(r.outcome == .failed(.unsupportedCommand(cmd)))
        }
    }

    @Test func unknownAddressTypeIsRefused() {
        let r = Self.both(Self.greeting + [5, 1, 0, 2, 1, 2, 3, 4, 0, 80])
        #expect(r.output == Self.methodSelected + Socks5Reply.addressTypeNotSupported.message)
        #expect(r.outcome == .failed(.unsupportedAddressType(2)))
    }

    @Test func malformedRequestsGetGeneralFailure() {
        let cases: [[UInt8]] = [
            [4, 1, 0, 1, 1, 2, 3, 4, 0, 80],              // wrong version in the request
            [5, 1, 1, 1, 1, 2, 3, 4, 0, 80],              // reserved byte set
            Self.request(atyp: 1, [1, 2, 3, 4], port: 0),  // port 0
            [5, 1, 0, 3, 0, 0, 80],                       // empty name
            Self.request(atyp: 3, Array("a b".utf8), port: 80),
            Self.request(atyp: 3, [0x61, 0x00, 0x62], port: 80),
            Self.request(atyp: 3, Array("x.com/../".utf8), port: 80),
            Self.request(atyp: 3, Array("...".utf8), port: 80),
        ]
        for request in cases {
            let r = Self.both(Self.greeting + request)
            #expect(r.output == Self.methodSelected + Socks5Reply.generalFailure.message, "\(request)")
            guard case .failed = r.outcome else { Issue.record("accepted \(request)"); continue }
        }
    }

    @Test func longestNameIsAccepted() {
        let name = [UInt8](repeating: UInt8(ascii: "a"), count: 255)
        let r = Self.both(Self.greeting + Self.request(atyp: 3, name, port: 80))
        #expect(r.outcome == .request(ProxyTarget(host: String(repeating: "a", count: 255), port: 80)!))
        #expect(Self.greeting.count + 4 + 1 + 255 + 2 == Self.greeting.count + Socks5Handshake.maxRequestSize)
    }

    @Test func truncatedInputNeverDecides() {
        let full = Self.greeting + Self.request(atyp: 3, Array("example.com".utf8), port: 80)
        for n in 0..<full.count {
            var h = Socks5Handshake()
            var buffer = ByteBuffer(full[..<n])
            var step = h.feed(from: &buffer)
            if step.outcome == .needMore && !buffer.isEmpty { step = h.feed(from: &buffer) }
            #expect(step.outcome == .needMore, "prefix \(n)")
        }
    }

    @Test func randomJunkNeverTraps() {
        var rng = ShimJunkGenerator(seed: 7)
        for _ in 0..<2000 {
            let n = Int(rng.next() % 40)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if rng.next() % 2 == 0 { bytes = [5, 1, 0, 5] + bytes }  // reach the request parser
            _ = Self.both(bytes)
        }
    }
}

/// A small deterministic generator for junk inputs.
struct ShimJunkGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
