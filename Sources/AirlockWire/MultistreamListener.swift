import AirlockCore

/// The answering side of multistream-select 1.0 (wire.md §1.2), sans I/O.
///
/// `start()` returns the header, which may be written at once (as go does) or is otherwise put in
/// front of the first answer. Each proposal is answered with its echo (done) or `na`; `ls` gets `na`.
/// After `maxAttempts` proposals without agreement the negotiation fails. Bytes that follow the
/// accepted proposal (a lazy dialer's Noise message, yamux frames, a protobuf) are handed back as
/// leftover and must go to the next layer first (wire.md §1.3, §9 P1).
///
/// Not thread-safe; owned by the connection or stream that runs the negotiation.
public struct MultistreamListener: Sendable {
    /// Default cap on proposals (and `ls` requests) per negotiation.
    public static let defaultMaxAttempts = 16

    public let supported: Set<String>
    public let maxAttempts: Int

    private var started = false
    private var headerReceived = false
    private var attempts = 0
    private var finished = false
    private var pending = ByteBuffer()

    public init(supported: some Sequence<String>, maxAttempts: Int = MultistreamListener.defaultMaxAttempts) {
        precondition(maxAttempts >= 1, "multistream listener must allow at least one proposal")
        self.supported = Set(supported)
        precondition(self.supported.allSatisfy(MultistreamMessage.isValidProtocolID), "invalid protocol ID in \(self.supported)")
        self.maxAttempts = maxAttempts
    }

    /// The header. Calling it again returns nothing.
    public mutating func start() -> [UInt8] {
        guard !started else { return [] }
        started = true
        return MultistreamMessage.encode(ProtocolID.multistream)
    }

    /// Feeds bytes read from the peer (any split).
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
    /// whatever follows the accepted proposal stays in `buffer`. Do not mix with `feed(_:)`.
    public mutating func feed(from buffer: inout ByteBuffer) throws(MultistreamError) -> MultistreamStep {
        precondition(!finished, "multistream listener fed after it finished")
        var output = start()
        while let message = try MultistreamMessage.read(from: &buffer) {
            if !headerReceived {
                guard message == ProtocolID.multistream else { throw .unexpectedHeader(message) }
                headerReceived = true
                continue
            }
            attempts += 1
            guard attempts <= maxAttempts else { throw .tooManyAttempts(cap: maxAttempts) }
            if message != MultistreamMessage.list && message != MultistreamMessage.notAvailable && supported.contains(message) {
                MultistreamMessage.encode(message, into: &output)
                finished = true
                return MultistreamStep(output: output, outcome: .selected(protocol: message, leftover: []))
            }
            MultistreamMessage.encode(MultistreamMessage.notAvailable, into: &output)
        }
        return MultistreamStep(output: output, outcome: .pending)
    }
}
