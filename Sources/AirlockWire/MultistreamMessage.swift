import AirlockCore

/// multistream-select 1.0 message framing (wire.md §1.1): `uvarint(len) || UTF-8 text || 0x0a`,
/// where `len` counts the trailing newline.
public enum MultistreamMessage {
    /// Largest length field accepted, newline included (go-multistream's limit; rust allows more,
    /// but nothing legitimate comes near it).
    public static let maxLength = 1024
    /// The refusal answer.
    public static let notAvailable = "na"
    /// The optional "list protocols" request, which we answer with `na`.
    public static let list = "ls"

    /// Whether `text` is a protocol ID we may send: starts with `/`, no newline, fits the cap.
    public static func isValidProtocolID(_ text: String) -> Bool {
        text.hasPrefix("/") && !text.utf8.contains(0x0a) && text.utf8.count + 1 <= maxLength
    }

    /// Appends the framed message. `text` is ours (a protocol ID, `na`, `ls`), never peer input.
    public static func encode(_ text: String, into out: inout [UInt8]) {
        precondition(text == notAvailable || text == list || isValidProtocolID(text), "invalid multistream message \(text)")
        UVarint.encode(UInt64(text.utf8.count + 1), into: &out)
        out.append(contentsOf: text.utf8)
        out.append(0x0a)
    }

    public static func encode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        encode(text, into: &out)
        return out
    }

    /// Takes one complete message from `buffer` and returns its text without the newline; nil
    /// (nothing consumed) when more bytes are needed. Throws, before waiting for the body, when the
    /// length is 0 or over `maxLength`; and on a missing newline, bad UTF-8, or a name that is
    /// neither `na`, `ls` nor starting with `/`.
    public static func read(from buffer: inout ByteBuffer) throws(MultistreamError) -> String? {
        let header: (value: UInt64, size: Int)?
        do { header = try UVarint.decode(buffer.readableView) } catch { throw .malformed(error) }
        guard let (len, n) = header else { return nil }
        guard len >= 1 else { throw .malformed(.invalid("empty multistream message")) }
        guard len <= UInt64(maxLength) else {
            throw .malformed(.tooLarge(what: "multistream message", size: len, cap: maxLength))
        }
        guard let frame = buffer.peekBytes(count: n + Int(len)) else { return nil }
        let body = frame.dropFirst(n).dropLast()
        guard frame.last == 0x0a else { throw .malformed(.invalid("multistream message does not end in a newline")) }
        guard !body.contains(0x0a), let text = String(validating: body, as: UTF8.self) else {
            throw .malformed(.invalid("multistream message is not one line of UTF-8"))
        }
        guard text.hasPrefix("/") || text == notAvailable || text == list else {
            throw .malformed(.invalid("multistream message \"\(text.prefix(64))\" is not a protocol ID, na or ls"))
        }
        buffer.skip(frame.count)
        return text
    }
}

/// Why a multistream-select negotiation failed. Refusal of every proposal is not an error: see
/// `MultistreamStep.Outcome.noneSupported`.
public enum MultistreamError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Bad framing from the peer.
    case malformed(DecodeError)
    /// The peer's first message was not `/multistream/1.0.0`.
    case unexpectedHeader(String)
    /// The listener answered something other than our proposal or `na`.
    case unexpectedReply(proposed: String, got: String)
    /// The dialer made more proposals (and `ls` requests) than the listener's cap allows.
    case tooManyAttempts(cap: Int)

    public var description: String {
        switch self {
        case .malformed(let e): "multistream: \(e)"
        case .unexpectedHeader(let h): "multistream: expected header \(ProtocolID.multistream), got \"\(h.prefix(64))\""
        case .unexpectedReply(let p, let g): "multistream: proposed \(p), got \"\(g.prefix(64))\""
        case .tooManyAttempts(let cap): "multistream: peer made more than \(cap) proposals"
        }
    }
}

/// What one `feed` produced: bytes to send now (possibly empty) and where the negotiation stands.
public struct MultistreamStep: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        /// Keep feeding input.
        case pending
        /// Negotiation finished on `protocol`. `leftover` are bytes already received that follow
        /// the last negotiation message: they belong to the next layer and must be given to it first.
        /// (Always empty with `feed(from:)`, where they simply stay in the caller's buffer.)
        case selected(protocol: String, leftover: [UInt8])
        /// The listener refused every proposal (dialer only). Close the stream.
        case noneSupported
    }

    /// Bytes to write to the peer before anything else.
    public var output: [UInt8]
    public var outcome: Outcome

    public init(output: [UInt8], outcome: Outcome) { self.output = output; self.outcome = outcome }
}
