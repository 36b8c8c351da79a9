import AirlockCore
import AirlockIO
import AirlockWire

/// One spliced circuit (wire.md §5.7): the source's hop stream and the target's stop stream,
/// after both OKs, joined as two raw byte pipes.
///
/// **Thread:** the host's loop. **Memory:** each direction forwards what the destination's send
/// window takes and keeps the rest pending *without* returning receive credit to the source, so
/// the source's own window (not a relay buffer) absorbs the difference: at most one receive window
/// is pending per direction. **Ending:** a FIN is passed on once pending bytes are out; a reset or
/// lost connection on either side resets the other; a policy limit (duration, or data in one
/// direction) resets both, so a cut transfer never looks complete to either end.
final class Circuit {
    /// One direction: bytes read from `from`, written to `to`.
    final class Pipe {
        let from: Libp2pStream
        let to: Libp2pStream
        /// Bytes read but not yet taken by `to` (their receive credit is still withheld).
        var pending = ByteBuffer()
        /// Bytes received from `from` (forwarded or pending), checked against the data limit.
        var received: UInt64 = 0
        /// Bytes written to `to`.
        var forwarded: UInt64 = 0
        /// `from` sent FIN; `finSent` once it was passed on to `to`.
        var sourceFinished = false
        var finSent = false
        /// The most bytes ever pending (bounded by the source's receive window).
        var peakPending = 0

        init(from: Libp2pStream, to: Libp2pStream) { self.from = from; self.to = to }
    }

    let id: UInt64
    let slot: CircuitSlot
    let limit: Limit?
    let hop: Libp2pStream
    let stop: Libp2pStream
    /// Source → target, and target → source.
    let up: Pipe
    let down: Pipe
    let started = MonotonicTime.now()
    private(set) var closed = false
    private var hopEnded = false
    private var stopEnded = false
    private var durationTimer: TimerID?
    /// Called once, with the reason, when the circuit is over (both streams ended or were reset).
    var onClose: ((Circuit, String) -> Void)?

    init(id: UInt64, slot: CircuitSlot, hop: Libp2pStream, stop: Libp2pStream, limit: Limit?) {
        self.id = id; self.slot = slot; self.hop = hop; self.stop = stop; self.limit = limit
        up = Pipe(from: hop, to: stop)
        down = Pipe(from: stop, to: hop)
    }

    var source: PeerID { slot.source }
    var target: PeerID { slot.target }
    var age: Double { Double(started.nanoseconds(until: .now())) / 1e9 }

    /// Takes over both streams' callbacks and starts forwarding, leftover inbox bytes first.
    func start() {
        if let limit, limit.duration > 0 {
            durationTimer = hop.connection.loop.schedule(after: .seconds(Int64(limit.duration))) { [weak self] in
                self?.durationTimer = nil
                self?.close("duration limit", reset: true)
            }
        }
        hop.onWritable = { [weak self] in if let self { self.flush(self.down) } }
        stop.onWritable = { [weak self] in if let self { self.flush(self.up) } }
        hop.onRemoteClose = { [weak self] in self?.sourceFinished(self?.up) }
        stop.onRemoteClose = { [weak self] in self?.sourceFinished(self?.down) }
        hop.onEnd = { [weak self] how in self?.ended(hopSide: true, how) }
        stop.onEnd = { [weak self] how in self?.ended(hopSide: false, how) }
        guard hop.isOpen, stop.isOpen else { close("stream ended before the splice", reset: true); return }
        // Raw mode last: setting `onData` hands over what the inbox already holds (bytes that came
        // with or after the hop/stop message), so those go first.
        hop.onData = { [weak self] raw in if let self { self.received(self.up, raw) } }
        stop.onData = { [weak self] raw in if let self { self.received(self.down, raw) } }
        if hop.remoteClosed { sourceFinished(up) }
        if stop.remoteClosed { sourceFinished(down) }
    }

    private func received(_ p: Pipe, _ raw: UnsafeRawBufferPointer) {
        guard !closed else { return }
        p.received += UInt64(raw.count)
        if let cap = limit?.data, cap > 0, p.received > cap {
            close(p === up ? "data limit up" : "data limit down", reset: true)
            return
        }
        var n = 0
        if p.pending.isEmpty {
            n = p.to.write(raw)
            if n > 0 { p.from.consume(n); p.forwarded += UInt64(n) }
        }
        if n < raw.count {
            p.pending.write(UnsafeRawBufferPointer(rebasing: raw[n...]))
            p.peakPending = max(p.peakPending, p.pending.readableBytes)
        }
    }

    /// Writes pending bytes as the destination's window allows; passes FIN on once empty.
    private func flush(_ p: Pipe) {
        guard !closed else { return }
        while !p.pending.isEmpty {
            let to = p.to
            let n = p.pending.withUnreadBytes { raw in let n = to.write(raw); return (n, n) }
            if n == 0 { break }
            p.from.consume(n)
            p.forwarded += UInt64(n)
        }
        if p.pending.isEmpty && p.sourceFinished && !p.finSent {
            p.finSent = true
            p.to.closeWrite()  // may end `to` at once (both halves closed): `ended` runs inside
        }
    }

    private func sourceFinished(_ p: Pipe?) {
        guard let p, !closed else { return }
        p.sourceFinished = true
        flush(p)
    }

    private func ended(hopSide: Bool, _ how: Libp2pStream.End) {
        guard !closed else { return }
        guard how == .closed else {
            close("\(hopSide ? "source" : "target") \(Circuit.describe(how))", reset: true)
            return
        }
        // Both halves of this stream closed normally: its FIN was passed on and ours went out
        // after everything pending for it, so nothing is lost.
        if hopSide { hopEnded = true } else { stopEnded = true }
        if hopEnded && stopEnded { close("closed", reset: false) }
    }

    /// Ends the circuit once; with `reset`, resets both streams (a no-op on an ended stream).
    func close(_ reason: String, reset: Bool) {
        guard !closed else { return }
        closed = true
        if let t = durationTimer { hop.connection.loop.cancel(t); durationTimer = nil }
        if reset {
            hop.reset()
            stop.reset()
        }
        up.pending.clear()
        down.pending.clear()
        let cb = onClose
        onClose = nil
        cb?(self, reason)
    }

    static func describe(_ how: Libp2pStream.End) -> String {
        switch how {
        case .closed: "closed"
        case .reset: "reset"
        case .connectionClosed: "connection closed"
        case .localReset: "reset by relay"
        }
    }
}
