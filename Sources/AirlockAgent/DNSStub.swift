/// Answers every DNS query inside an agent namespace with REFUSED, sans I/O.
///
/// Names are resolved by the exit, never in the agent namespace (design.md §4), but a resolver
/// that gets no answer at all waits for its timeout (often 5 s × retries) before a tool falls
/// back to its proxy. A stub on 127.0.0.1:53 that refuses at once makes that failure instant.
///
/// Parsing is just enough to answer (RFC 1035 §4.1): the 12-byte header and the first question.
/// Anything that is not a plausible query (a response, no question, a truncated or oversize
/// name, a compression pointer in the question) gets no answer (`nil`), so junk cannot make the
/// stub send anything.
public enum DNSStub {
    /// The largest message we look at (a DNS message over TCP is at most 65535 bytes).
    public static let maxMessageSize = 65535
    /// RFC 1035 §2.3.4: labels are 1-63 bytes; a name is at most 255 bytes in wire form.
    static let maxLabelLength = 63
    static let maxNameLength = 255
    static let headerSize = 12
    /// RCODE 5 (RFC 1035 §4.1.1).
    static let rcodeRefused: UInt8 = 5

    /// The parts of a query the stub uses.
    public struct Query: Equatable, Sendable {
        public let id: UInt16
        /// The question's name in wire form (length-prefixed labels, ending with the root's 0).
        public let name: [UInt8]
        public let type: UInt16
        public let `class`: UInt16
        /// Header flag bits to echo: OPCODE and RD.
        let opcode: UInt8
        let recursionDesired: Bool

        /// The name in dotted form for logs; bytes outside letters, digits, `-` and `_` become `?`.
        public var nameText: String {
            var out = ""
            var i = 0
            while i < name.count, name[i] != 0 {
                let n = Int(name[i])
                if !out.isEmpty { out += "." }
                for b in name[(i + 1)..<(i + 1 + n)] {
                    let printable = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
                    out.unicodeScalars.append(printable ? Unicode.Scalar(b) : "?")
                }
                i += 1 + n
            }
            return out.isEmpty ? "." : out
        }
    }

    /// The largest answer there is: the header and one question whose name is 255 bytes.
    public static let maxResponseSize = headerSize + maxNameLength + 4

    /// Parses a query datagram; `nil` if it is not one we answer.
    public static func parseQuery(_ message: UnsafeRawBufferPointer) -> Query? {
        guard let end = questionEnd(message) else { return nil }
        let m = message
        let flags = m[2]
        return Query(id: UInt16(m[0]) << 8 | UInt16(m[1]), name: Array(m[headerSize..<(end - 4)]),
                     type: UInt16(m[end - 4]) << 8 | UInt16(m[end - 3]),
                     class: UInt16(m[end - 2]) << 8 | UInt16(m[end - 1]),
                     opcode: (flags >> 3) & 0x0F, recursionDesired: flags & 0x01 != 0)
    }

    /// Where the first question of a plausible query ends (just past its QCLASS); `nil` when
    /// `message` is not a query we answer.
    static func questionEnd(_ m: UnsafeRawBufferPointer) -> Int? {
        guard m.count >= headerSize + 5, m.count <= maxMessageSize else { return nil }
        guard m[2] & 0x80 == 0 else { return nil }  // QR set: a response, not a query
        let qdcount = UInt16(m[4]) << 8 | UInt16(m[5])
        guard qdcount >= 1 else { return nil }
        var i = headerSize
        while true {
            guard i < m.count else { return nil }
            let n = Int(m[i])
            if n == 0 { i += 1; break }
            // 0xC0 is a compression pointer, 0x40/0x80 are reserved label types: none belongs
            // in a question we were sent.
            guard n <= maxLabelLength else { return nil }
            i += 1 + n
            guard i - headerSize < maxNameLength else { return nil }
        }
        guard i - headerSize <= maxNameLength, i + 4 <= m.count else { return nil }
        return i + 4
    }

    /// Writes the REFUSED answer to `message` into `out` without allocating (for the server's
    /// reused buffer) and returns its length; `nil`, with nothing written, when `message` is not
    /// a query. `out` must hold `maxResponseSize` bytes and must not overlap `message`.
    public static func writeRefused(to message: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        precondition(out.count >= maxResponseSize, "DNSStub.writeRefused: output buffer too small")
        guard let end = questionEnd(message) else { return nil }
        let flags = message[2]
        out[0] = message[0]; out[1] = message[1]
        out[2] = 0x80 | (flags & 0x78) | (flags & 0x01)  // QR, OPCODE and RD echoed
        out[3] = rcodeRefused  // RA=0, Z=0
        out[4] = 0; out[5] = 1  // QDCOUNT=1, ANCOUNT=NSCOUNT=ARCOUNT=0
        for k in 6..<headerSize { out[k] = 0 }
        UnsafeMutableRawBufferPointer(rebasing: out[headerSize..<end])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: message[headerSize..<end]))
        return end
    }

    /// The REFUSED response to `query`: same ID, OPCODE and RD, QR set, the one question echoed,
    /// no records.
    public static func refusedResponse(to query: Query) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + query.name.count + 4)
        out += [UInt8(query.id >> 8), UInt8(query.id & 0xFF)]
        out.append(0x80 | query.opcode << 3 | (query.recursionDesired ? 0x01 : 0))
        out.append(rcodeRefused)  // RA=0, Z=0
        out += [0, 1, 0, 0, 0, 0, 0, 0]  // QDCOUNT=1, ANCOUNT=NSCOUNT=ARCOUNT=0
        out += query.name
        out += [UInt8(query.type >> 8), UInt8(query.type & 0xFF), UInt8(query.class >> 8), UInt8(query.class & 0xFF)]
        return out
    }

    /// Parses `message` and builds the REFUSED answer; `nil` for anything that is not a query.
    public static func refusedResponse(to message: UnsafeRawBufferPointer) -> [UInt8]? {
        parseQuery(message).map(refusedResponse(to:))
    }

    /// Convenience for `[UInt8]` input.
    public static func refusedResponse(to message: [UInt8]) -> [UInt8]? {
        message.withUnsafeBytes { refusedResponse(to: $0) }
    }
}
