/// What `YamuxSession.receive` reports to its owner, in wire order.
///
/// Not Sendable: `.data` borrows the caller's input buffer and is valid only during the callback.
public enum YamuxEvent {
    /// The remote opened `stream`. The session has already accepted it (sent WindowUpdate|ACK).
    /// Refuse it with `reset(stream:code:)`.
    case inboundStream(UInt32)
    /// Payload bytes for `stream`, valid only during the callback. A Data frame may arrive as
    /// several of these (as its bytes arrive). Call `consumed(stream:_:)` once the bytes are
    /// forwarded or copied, so the remote gets its window back.
    case data(UInt32, UnsafeRawBufferPointer)
    /// The send window of `stream` grew after a `send` took fewer bytes than offered.
    case sendWindowOpened(UInt32)
    /// The remote sent FIN on `stream`: no more data will arrive. We may still send.
    case remoteClosedWrite(UInt32)
    /// The remote reset `stream` (its ID is already freed). `code` is go-yamux v5's stream error
    /// code from the length of a WindowUpdate|RST; 0 otherwise (wire.md §4.2).
    case reset(UInt32, code: UInt32)
    /// Both halves of `stream` are closed and its ID is freed (reported when the remote's FIN
    /// completes the close; `closeWrite` returns `true` when ours does).
    case streamClosed(UInt32)
    /// The answer to our `ping()` carrying `value`.
    case pong(UInt32)
    /// The remote will accept no new streams; `openStream` now throws.
    case goAway(YamuxGoAwayCode)
}
