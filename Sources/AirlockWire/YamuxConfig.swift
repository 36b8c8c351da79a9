/// Which end of the TCP connection this session is (wire.md §0, §4.1). The role fixes the parity
/// of the stream IDs we open: the client (TCP dialer) uses odd IDs 1, 3, 5 …, the server (TCP
/// listener) even IDs 2, 4, 6 …. The remote must use the other parity.
public enum YamuxRole: Sendable, Equatable {
    case client
    case server

    /// The first stream ID this role opens.
    var firstStreamID: UInt32 { self == .client ? 1 : 2 }
    /// Whether `id` has this role's parity.
    func owns(_ id: UInt32) -> Bool { (id & 1 == 1) == (self == .client) }
}

/// Limits and tuning for one `YamuxSession`, as one plain struct with documented defaults.
/// Every limit bounds memory or work that a remote peer could otherwise drive.
public struct YamuxConfig: Sendable, Equatable {
    /// The receive window we grant each stream, in bytes. The protocol starts every stream at
    /// 256 KiB (`YamuxFrame.initialWindow`); a larger value is granted with the stream's opening
    /// or accepting WindowUpdate. go-libp2p grows its windows to 16 MiB (wire.md §4.3).
    /// Must be in `YamuxFrame.initialWindow ... UInt32.max`.
    public var maxWindow: UInt32
    /// How many streams the remote may have open with us at once. A SYN beyond this is answered
    /// with RST on that stream (not a session error), which bounds the stream table.
    public var maxInboundStreams: Int
    /// How many streams we opened that the remote has not yet acknowledged. The spec's
    /// implementation note says 256 (wire.md §4.2). `openStream` throws beyond it.
    public var maxPendingOutbound: Int
    /// The largest Data payload we put in one frame (go sends ≤ 64 KiB, wire.md §4.3).
    public var maxFramePayload: Int
    /// We send a WindowUpdate once the owner has consumed this many bytes of a stream that we
    /// have not yet re-granted (go re-grants after about half the window, wire.md §4.3).
    public var windowUpdateThreshold: UInt32

    /// - Parameter windowUpdateThreshold: `nil` means half of `maxWindow`.
    public init(maxWindow: UInt32 = YamuxFrame.initialWindow,
                maxInboundStreams: Int = 512,
                maxPendingOutbound: Int = 256,
                maxFramePayload: Int = 64 * 1024,
                windowUpdateThreshold: UInt32? = nil) {
        precondition(maxWindow >= YamuxFrame.initialWindow, "maxWindow below the protocol's initial window")
        precondition(maxInboundStreams >= 0 && maxPendingOutbound >= 1, "stream limits out of range")
        precondition(maxFramePayload >= 1, "maxFramePayload must be positive")
        let threshold = windowUpdateThreshold ?? maxWindow / 2
        precondition(threshold >= 1 && threshold <= maxWindow, "windowUpdateThreshold out of range")
        self.maxWindow = maxWindow
        self.maxInboundStreams = maxInboundStreams
        self.maxPendingOutbound = maxPendingOutbound
        self.maxFramePayload = maxFramePayload
        self.windowUpdateThreshold = threshold
    }
}

/// A GoAway code (wire.md §4.5). The spec defines three; go-libp2p sends its own connection error
/// codes too, so any value is accepted and carried through.
public struct YamuxGoAwayCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let normal = YamuxGoAwayCode(rawValue: 0)
    public static let protocolError = YamuxGoAwayCode(rawValue: 1)
    public static let internalError = YamuxGoAwayCode(rawValue: 2)

    public var description: String {
        switch rawValue {
        case 0: return "normal"
        case 1: return "protocol error"
        case 2: return "internal error"
        default: return "code \(rawValue)"
        }
    }
}
