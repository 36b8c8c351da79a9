import AirlockCore
import AirlockCrypto

/// One libp2p connection's upgrade and steady state, sans I/O (design §3, wire.md §0.1):
/// multistream-select `/noise` → Noise XX → multistream-select `/yamux/1.0.0` (inside Noise) → yamux.
///
/// The owner feeds every byte read from the transport to `receive` and writes what `drainWire`
/// hands out. After `flush()` (call it once the owner is done writing into `yamux` for now), the
/// yamux output has been encrypted into the wire buffer. The wire buffer doubles as the
/// connection's output queue: `wireCount` is what back-pressure looks at.
///
/// Roles follow the transport: the dialer proposes, runs the Noise initiator and is the yamux
/// client (odd stream IDs); the listener answers and is the yamux server.
///
/// Not thread-safe: one event loop owns it.
public final class SecureSession {
    public enum Role: Sendable {
        /// With `expectedPeer`, a remote proving another identity fails the handshake.
        case dialer(expectedPeer: PeerID?)
        case listener
    }

    public enum Event {
        /// Noise finished and the yamux session exists: streams may be opened. For the listener
        /// this fires when msg 3 arrives; for the dialer as soon as it sent msg 3.
        case established(PeerID)
        /// A yamux event (valid only during the callback, see `YamuxEvent`).
        case stream(YamuxEvent)
    }

    enum Phase {
        case securityNegotiation
        case handshake
        case muxerNegotiation
        case established
        case failed
    }

    public let role: Role
    private let identity: Ed25519PrivateKey
    private let yamuxConfig: YamuxConfig
    private var phase: Phase = .securityNegotiation
    private var securityDialer: MultistreamDialer?
    private var securityListener: MultistreamListener?
    private var muxerDialer: MultistreamDialer?
    private var muxerListener: MultistreamListener?
    private var noise: NoiseHandshake?
    private var transport: NoiseTransport?
    /// Raw bytes not yet consumed: plaintext before Noise, a partial ciphertext frame after.
    private var inbox = ByteBuffer()
    /// Decrypted bytes still in muxer negotiation.
    private var plainInbox = ByteBuffer()
    /// Bytes to write: handshake frames, then Noise transport frames.
    private var wire: [UInt8] = []
    private var wireStart = 0

    /// The yamux session once established.
    public private(set) var yamux: YamuxSession?
    /// The remote's proven identity, once the handshake finished.
    public private(set) var remotePeer: PeerID?
    public private(set) var failure: SessionError?

    public var isEstablished: Bool { yamux != nil && failure == nil }

    public init(role: Role, identity: Ed25519PrivateKey, yamuxConfig: YamuxConfig = YamuxConfig()) {
        self.role = role
        self.identity = identity
        self.yamuxConfig = yamuxConfig
    }

    /// Queues the opening bytes (both sides send the multistream header at once).
    public func start() {
        switch role {
        case .dialer:
            var d = MultistreamDialer(proposing: ProtocolID.noise)
            wire += d.start()
            securityDialer = d
        case .listener:
            var l = MultistreamListener(supported: [ProtocolID.noise])
            wire += l.start()
            securityListener = l
        }
    }

    // MARK: input

    /// Feeds bytes read from the transport; events are reported in wire order. The bytes are
    /// treated as scratch: complete ciphertext frames are decrypted where they lie, so the caller
    /// must not read them afterwards (a read buffer, or an outer layer's delivered payload).
    /// On error the session is dead: the owner closes the transport (after writing what is queued,
    /// which may be a yamux GoAway).
    public func receive(_ bytes: UnsafeRawBufferPointer, _ handle: (Event) -> Void) throws(SessionError) {
        if let failure { throw failure }
        do throws(SessionError) {
            if phase == .established {
                try receiveEstablished(bytes, handle)
            } else {
                inbox.write(bytes)
                try advance(handle)
            }
        } catch {
            fail(error)
            throw error
        }
    }

    private func advance(_ handle: (Event) -> Void) throws(SessionError) {
        while true {
            switch phase {
            case .securityNegotiation:
                guard try negotiateSecurity() else { return }
            case .handshake:
                guard try runHandshake(handle) else { return }
            case .muxerNegotiation:
                // Only the listener waits here; the dialer moved on lazily (see runHandshake).
                guard try negotiateMuxerAsListener(handle) else { return }
            case .established:
                // Whatever followed the negotiation is ciphertext for the steady state.
                if !inbox.isEmpty {
                    let rest = inbox.readAll()
                    try rest.withBytes { (raw) throws(SessionError) in try receiveEstablished(raw, handle) }
                }
                return
            case .failed:
                throw failure ?? SessionError(.protocolViolation, "session failed")
            }
        }
    }

    /// Returns true once `/noise` is agreed and the handshake has started.
    private func negotiateSecurity() throws(SessionError) -> Bool {
        let step: MultistreamStep
        do {
            if var d = securityDialer { step = try d.feed(from: &inbox); securityDialer = d }
            else if var l = securityListener { step = try l.feed(from: &inbox); securityListener = l }
            else { return false }
        } catch { throw SessionError(.negotiation, "security negotiation: \(error)") }
        wire += step.output
        switch step.outcome {
        case .pending: return false
        case .noneSupported: throw SessionError(.negotiation, "remote does not support /noise")
        case .selected:
            securityDialer = nil; securityListener = nil
            let hs: NoiseHandshake
            switch role {
            case .dialer(let expected): hs = NoiseHandshake(role: .initiator(expectedPeer: expected), identity: identity)
            case .listener: hs = NoiseHandshake(role: .responder, identity: identity)
            }
            do { wire += try hs.start() } catch { throw SessionError(.handshake, error.description) }
            noise = hs
            phase = .handshake
            return true
        }
    }

    /// Returns true once the handshake finished (the phase moved on).
    private func runHandshake(_ handle: (Event) -> Void) throws(SessionError) -> Bool {
        guard let hs = noise, !inbox.isEmpty else { return false }
        let step: NoiseHandshake.Step
        do { step = try hs.feed(inbox.readAll()) } catch {
            throw SessionError(error.code == .peerIDMismatch ? .peerMismatch : .handshake, error.description)
        }
        wire += step.output
        guard let result = step.result else { return false }
        noise = nil
        transport = result.transport
        remotePeer = result.remotePeerID
        inbox.write(result.leftover)
        switch role {
        case .dialer:
            // Propose yamux and start it at once: the listener accepts what it was built for, and
            // its echo is checked when it arrives (the first bytes we decrypt).
            var d = MultistreamDialer(proposing: ProtocolID.yamux, lazy: true)
            try encrypt(d.start())
            muxerDialer = d
            establish(handle)
        case .listener:
            var l = MultistreamListener(supported: [ProtocolID.yamux])
            try encrypt(l.start())
            muxerListener = l
            phase = .muxerNegotiation
        }
        return true
    }

    private func negotiateMuxerAsListener(_ handle: (Event) -> Void) throws(SessionError) -> Bool {
        try decryptInbox()
        guard var l = muxerListener else { return false }
        let step: MultistreamStep
        do { step = try l.feed(from: &plainInbox) } catch { throw SessionError(.negotiation, "muxer negotiation: \(error)") }
        muxerListener = l
        try encrypt(step.output)
        switch step.outcome {
        case .pending: return false
        case .noneSupported: throw SessionError(.negotiation, "remote proposed no muxer we support")
        case .selected:
            muxerListener = nil
            establish(handle)
            try deliverPlainInbox(handle)
            return true
        }
    }

    private func establish(_ handle: (Event) -> Void) {
        let y = YamuxSession(role: isDialer ? .client : .server, config: yamuxConfig)
        yamux = y
        phase = .established
        handle(.established(remotePeer!))
    }

    /// Steady state: complete a pending partial frame from `inbox`, then decrypt whole frames in
    /// place in the caller's buffer (no copy), and keep only a trailing partial frame.
    ///
    /// The input is scratch memory (the loop's read buffer, or the decrypted payload of an outer
    /// connection) that nobody reads again after this call, so decrypting it in place is safe.
    private func receiveEstablished(_ bytes: UnsafeRawBufferPointer, _ handle: (Event) -> Void) throws(SessionError) {
        guard let transport else { return }
        var rest = UnsafeMutableRawBufferPointer(mutating: bytes)
        if !inbox.isEmpty {
            // Top up the pending frame only as far as it needs; the rest goes the fast way.
            let need = SecureSession.pendingFrameNeed(inbox)
            let take = min(need, rest.count)
            inbox.write(UnsafeRawBufferPointer(rebasing: rest[..<take]))
            rest = UnsafeMutableRawBufferPointer(rebasing: rest[take...])
            try decrypt(inboxWith: transport, handle)
            if !inbox.isEmpty {
                // Still incomplete (length header was partial): append everything and retry once.
                if rest.isEmpty { return }
                inbox.write(UnsafeRawBufferPointer(rest))
                try decrypt(inboxWith: transport, handle)
                return
            }
        }
        guard !rest.isEmpty else { return }
        var failure: SessionError?
        let consumed: Int
        do {
            consumed = try transport.decrypt(inPlace: rest) { plain in
                guard failure == nil else { return }
                do throws(SessionError) { try self.deliver(plain, handle) } catch { failure = error }
            }
        } catch { throw SessionError(.decrypt, error.description) }
        if let failure { throw failure }
        if consumed < rest.count { inbox.write(UnsafeRawBufferPointer(rebasing: rest[consumed...])) }
    }

    /// Bytes still missing from the frame at the start of `inbox` (2 while its length is unknown).
    static func pendingFrameNeed(_ inbox: ByteBuffer) -> Int {
        guard inbox.readableBytes >= 2 else { return 2 - inbox.readableBytes }
        let length = Int(inbox.peek(at: 0)!) << 8 | Int(inbox.peek(at: 1)!)
        return max(0, 2 + length - inbox.readableBytes)
    }

    private func decrypt(inboxWith transport: NoiseTransport, _ handle: (Event) -> Void) throws(SessionError) {
        var failure: SessionError?
        let consumed: Int
        do {
            consumed = try inbox.withUnsafeMutableReadableBytes { (raw) throws(CryptoError) -> Int in
                try transport.decrypt(inPlace: raw) { plain in
                    guard failure == nil else { return }
                    do throws(SessionError) { try self.deliver(plain, handle) } catch { failure = error }
                }
            }
        } catch { throw SessionError(.decrypt, error.description) }
        inbox.skip(consumed)
        if let failure { throw failure }
    }

    /// Plaintext after establishment: through the dialer's pending muxer echo, then to yamux.
    private func deliver(_ plain: UnsafeRawBufferPointer, _ handle: (Event) -> Void) throws(SessionError) {
        if muxerDialer != nil {
            plainInbox.write(plain)
            try checkMuxerEcho()
            guard muxerDialer == nil else { return }
            try deliverPlainInbox(handle)
            return
        }
        try feedYamux(plain, handle)
    }

    private func checkMuxerEcho() throws(SessionError) {
        guard var d = muxerDialer else { return }
        let step: MultistreamStep
        do { step = try d.feed(from: &plainInbox) } catch { throw SessionError(.negotiation, "muxer negotiation: \(error)") }
        muxerDialer = d
        switch step.outcome {
        case .pending: return
        case .noneSupported: throw SessionError(.negotiation, "remote refused /yamux/1.0.0")
        case .selected: muxerDialer = nil
        }
    }

    private func deliverPlainInbox(_ handle: (Event) -> Void) throws(SessionError) {
        guard !plainInbox.isEmpty else { return }
        let rest = plainInbox.readAll()
        try rest.withBytes { (raw) throws(SessionError) in try feedYamux(raw, handle) }
    }

    private func feedYamux(_ plain: UnsafeRawBufferPointer, _ handle: (Event) -> Void) throws(SessionError) {
        guard let yamux else { return }
        do { try yamux.receive(plain) { handle(.stream($0)) } } catch {
            throw SessionError(.muxer, error.description)
        }
    }

    /// Before establishment (listener side): decrypt whole frames from `inbox` into `plainInbox`.
    private func decryptInbox() throws(SessionError) {
        guard let transport, !inbox.isEmpty else { return }
        do {
            let plain = try transport.decrypt(&inbox)
            plainInbox.write(plain)
        } catch { throw SessionError(.decrypt, error.description) }
    }

    // MARK: output

    /// Encrypts pending yamux output into the wire buffer. Call after writing into `yamux`.
    public func flush() throws(SessionError) {
        guard let yamux, let transport, failure == nil else { return }
        do {
            try yamux.drainOutput { (raw) throws(CryptoError) -> Int in
                try transport.encrypt(raw, appendingTo: &wire)
                return raw.count
            }
        } catch {
            fail(SessionError(.encrypt, error.description))
            throw failure!
        }
    }

    /// Bytes waiting to be written to the transport.
    public var wireCount: Int { wire.count - wireStart }

    /// Hands queued wire bytes to `body` (e.g. a write(2)), which returns how many it took.
    public func drainWire(_ body: (UnsafeRawBufferPointer) -> Int) {
        guard wireCount > 0 else { return }
        let start = wireStart
        let taken = wire.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        precondition(taken >= 0 && taken <= wireCount, "drainWire: body took more than offered")
        wireStart += taken
        if wireStart == wire.count {
            wire.removeAll(keepingCapacity: wire.capacity <= 256 * 1024)
            wireStart = 0
        } else if wireStart >= 64 * 1024 && wireStart * 2 >= wire.count {
            wire.removeFirst(wireStart)
            wireStart = 0
        }
    }

    /// Returns and clears the queued wire bytes (tests and simple owners).
    public func takeWire() -> [UInt8] {
        var out: [UInt8] = []
        drainWire { out = Array($0); return $0.count }
        return out
    }

    // MARK: helpers

    private var isDialer: Bool { if case .dialer = role { return true }; return false }

    private func encrypt(_ plain: [UInt8]) throws(SessionError) {
        guard !plain.isEmpty, let transport else { return }
        do {
            try plain.withBytes { (raw) throws(CryptoError) in try transport.encrypt(raw, appendingTo: &wire) }
        } catch { throw SessionError(.encrypt, error.description) }
    }

    private func fail(_ error: SessionError) {
        guard failure == nil else { return }
        failure = error
        phase = .failed
        // Tell a yamux peer why, when we can still encrypt.
        if let yamux, let transport, !transport.isClosed, error.code != .decrypt {
            yamux.goAway(.protocolError)
            try? yamux.drainOutput { (raw) throws(CryptoError) -> Int in
                try transport.encrypt(raw, appendingTo: &wire); return raw.count
            }
        }
    }
}

/// Why a `SecureSession` ended.
public struct SessionError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: Sendable, Equatable {
        case negotiation, handshake, peerMismatch, decrypt, encrypt, muxer, protocolViolation
    }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }
}
