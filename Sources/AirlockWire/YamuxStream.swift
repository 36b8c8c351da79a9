/// Per-stream bookkeeping inside a `YamuxSession` (a few words; no buffers).
///
/// States (wire.md §4.2): open → half-closed local (`localClosed`) or half-closed remote
/// (`remoteClosed`) → closed (both) — at which point the session removes the entry. Reset removes
/// it at once. So the table only ever holds live streams.
struct YamuxStream {
    /// Bytes we may still send (the remote's grant). Never exceeds 2^32-1: deltas that would are
    /// a protocol error.
    var sendWindow: UInt32
    /// Bytes the remote may still send before we grant more.
    var recvWindow: UInt32
    /// Bytes the owner consumed that we have not re-granted yet.
    /// Invariant: `recvWindow + pendingGrant + (delivered, not yet consumed) == maxWindow`.
    var pendingGrant: UInt32 = 0
    /// The remote opened this stream (counts against `maxInboundStreams`).
    let inbound: Bool
    /// We opened it and the remote has not sent ACK yet (counts against `maxPendingOutbound`).
    var awaitingAck: Bool
    /// We sent FIN.
    var localClosed = false
    /// The remote sent FIN.
    var remoteClosed = false
    /// A `send` took fewer bytes than offered: report `.sendWindowOpened` when the window grows.
    var blocked = false

    init(inbound: Bool, recvWindow: UInt32) {
        self.inbound = inbound
        self.awaitingAck = !inbound
        self.sendWindow = YamuxFrame.initialWindow
        self.recvWindow = recvWindow
    }
}
