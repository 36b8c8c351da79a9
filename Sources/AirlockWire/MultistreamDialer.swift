import AirlockCore

/// The proposing side of multistream-select 1.0 (wire.md §1.2), sans I/O.
///
/// `start()` returns the header and the first proposal, to be written together. Feed everything
/// read from the peer to `feed`; each step says what to write and whether the negotiation is done.
/// After `na` the next protocol is proposed; when all are refused the outcome is `.noneSupported`.
/// Bytes that follow the accepting echo are handed back as leftover: they belong to the next layer.
///
/// **Lazy mode** (wire.md §1.3): with a single protocol that the peer is known to support, the
/// caller may write application bytes right after `start()`'s output, without waiting for the echo
/// (`mayWriteApplicationData` says so). The header and echo are still read and checked by `feed`
/// when they arrive, before any application bytes from the peer are handed over. If the peer
/// answers `na` instead, the bytes already sent are lost: the caller must reset the stream.
///
/// Not thread-safe; owned by the connection or stream that runs the negotiation.
public struct MultistreamDialer: Sendable {
    public let protocols: [String]
    public let lazy: Bool

    private var started = false
    private var headerReceived = false
    private var current = 0
    private var finished = false
    /// The protocol the listener echoed, once it has.
    public private(set) var selected: String?
    private var pending = ByteBuffer()

    /// `protocols` in order of preference; each must be a valid protocol ID. Lazy mode takes exactly one.
    public init(protocols: [String], lazy: Bool = false) {
        precondition(!protocols.isEmpty, "multistream dialer needs at least one protocol")
        precondition(protocols.allSatisfy(MultistreamMessage.isValidProtocolID), "invalid protocol ID in \(protocols)")
        precondition(!lazy || protocols.count == 1, "lazy multistream negotiation proposes exactly one protocol")
        self.protocols = protocols
        self.lazy = lazy
    }

    public init(proposing protocolID: String, lazy: Bool = false) { self.init(protocols: [protocolID], lazy: lazy) }

    /// The protocol currently proposed (the selected one once done).
    public var proposed: String { protocols[min(current, protocols.count - 1)] }

    /// True once application bytes may follow on the write side: after selection, or right after
    /// `start()` in lazy mode (until a refusal arrives).
    public var mayWriteApplicationData: Bool { selected != nil || (lazy && started && !finished) }

    /// The first write: header and first proposal. Calling it again returns nothing.
    public mutating func start() -> [UInt8] {
        guard !started else { return [] }
        started = true
        var out: [UInt8] = []
        MultistreamMessage.encode(ProtocolID.multistream, into: &out)
        MultistreamMessage.encode(protocols[0], into: &out)
        return out
    }

    /// Feeds bytes read from the peer (any split). Starts the negotiation first if `start()` was not called.
    public mutating func feed<C: Collection>(_ bytes: C) throws(MultistreamError) -> MultistreamStep where C.Element == UInt8 {
        // Take the buffer out of self for the call (a move, not a copy) and put it back after.
        var buffer = ByteBuffer()
        swap(&buffer, &pending)
        defer { swap(&buffer, &pending) }
        buffer.write(bytes)
        var step = try feed(from: &buffer)
        if case .selected(let p, _) = step.outcome { step.outcome = .selected(protocol: p, leftover: buffer.readAll()) }
        return step
    }

    /// Like `feed(_:)`, but reads from the caller's buffer and consumes only negotiation messages:
    /// whatever follows the echo stays in `buffer`. Do not mix with `feed(_:)`.
    public mutating func feed(from buffer: inout ByteBuffer) throws(MultistreamError) -> MultistreamStep {
        precondition(!finished, "multistream dialer fed after it finished")
        var output = start()
        while let message = try MultistreamMessage.read(from: &buffer) {
            if !headerReceived {
                guard message == ProtocolID.multistream else { throw .unexpectedHeader(message) }
                headerReceived = true
                continue
            }
            if message == protocols[current] {
                finished = true
                selected = message
                return MultistreamStep(output: output, outcome: .selected(protocol: message, leftover: []))
            }
            guard message == MultistreamMessage.notAvailable else { throw .unexpectedReply(proposed: protocols[current], got: message) }
            current += 1
            if current == protocols.count {
                finished = true
                return MultistreamStep(output: output, outcome: .noneSupported)
            }
            MultistreamMessage.encode(protocols[current], into: &output)
        }
        return MultistreamStep(output: output, outcome: .pending)
    }
}
