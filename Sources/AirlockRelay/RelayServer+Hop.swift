import AirlockCore
import AirlockIO
import AirlockWire

/// Hop streams: admission under the in-flight cap, the first message (with its timeout), the
/// answer, and giving the stream up.
extension RelayServer {
    /// A new hop stream: at most `maxHopInFlightPerConnection` per connection are worked on at
    /// once; beyond that the stream is reset at once (design §2 invariant 9).
    func accept(_ s: Libp2pStream) {
        let conn = s.connection.id
        guard running else { s.reset(); return }
        guard inFlight[conn, default: 0] < config.maxHopInFlightPerConnection else {
            stats.hopStreamsRefusedInFlight += 1
            logger.debug("hop_refused", ["peer": s.remotePeer, "conn": conn, "reason": "in-flight cap"])
            s.reset()
            return
        }
        inFlight[conn, default: 0] += 1
        let x = HopExchange(stream: s)
        exchanges[ObjectIdentifier(x)] = x
        x.timer = host.loop.schedule(after: .milliseconds(Int64(config.messageTimeout * 1000))) { [weak self, weak x] in
            guard let self, let x, !x.finished else { return }
            x.timer = nil
            self.stats.messageTimeouts += 1
            self.logger.info("hop_refused", ["peer": s.remotePeer, "conn": conn, "reason": "no message within \(self.config.messageTimeout) s"])
            self.abandon(x, reason: "message timeout", resetHop: true)
        }
        s.onEnd = { [weak self, weak x] how in
            guard let self, let x else { return }
            self.abandon(x, reason: "hop stream \(Circuit.describe(how))", resetHop: false)
        }
        s.onReadable = { [weak self, weak x] in
            guard let self, let x else { return }
            self.firstMessage(x)
        }
    }

    private func firstMessage(_ x: HopExchange) {
        let s = x.stream
        let message: HopMessage
        do throws(DecodeError) {
            guard let body = try s.readMessage(cap: RelayServer.maxMessageLength) else { return }
            message = try HopMessage(decoding: body[...])
        } catch {
            return refuseMalformed(x, "\(error)")
        }
        if let t = x.timer { host.loop.cancel(t); x.timer = nil }
        // Whatever follows the message stays in the inbox: after a CONNECT it is circuit data.
        s.onReadable = nil
        switch message.type {
        case .reserve: reserve(x)
        case .connect: connect(x, message)
        case .status:
            logger.info("hop_refused", ["peer": s.remotePeer, "conn": x.connectionID, "status": RelayStatus.unexpectedMessage,
                                        "reason": "STATUS sent to the relay"])
            answer(x, .status(.unexpectedMessage))
        }
    }

    private func refuseMalformed(_ x: HopExchange, _ why: String) {
        logger.info("hop_refused", ["peer": x.stream.remotePeer, "conn": x.connectionID, "status": RelayStatus.malformedMessage, "reason": why])
        answer(x, .status(.malformedMessage))
    }

    /// Writes `message`, half-closes, and ends the exchange. Later bytes from the peer are read
    /// and dropped (some clients keep writing), and a stream still open after
    /// `answeredStreamLinger` is reset so it cannot be held forever.
    func answer(_ x: HopExchange, _ message: HopMessage) {
        guard !x.finished else { return }
        let s = x.stream
        finish(x)
        s.onEnd = nil
        s.send(message.framed())
        s.closeWrite()
        guard s.isOpen else { return }
        s.onReadable = { [weak s] in _ = s?.take() }
        if !s.inbox.isEmpty { _ = s.take() }
        host.loop.schedule(after: .milliseconds(Int64(config.answeredStreamLinger * 1000))) { [weak s] in
            if let s, s.isOpen { s.reset() }
        }
    }

    /// Gives up on an exchange: its timer, any STOP stream and circuit caps are released.
    func abandon(_ x: HopExchange, reason: String, resetHop: Bool) {
        guard !x.finished else { return }
        if let stop = x.stop { stop.onEnd = nil; stop.reset() }
        finish(x)
        if resetHop { x.stream.onEnd = nil; x.stream.reset() }
        logger.debug("hop_abandoned", ["peer": x.stream.remotePeer, "conn": x.connectionID, "reason": reason])
    }

    /// Marks the exchange over: timer cancelled, in-flight slot and (unless handed to a circuit)
    /// circuit caps released.
    func finish(_ x: HopExchange) {
        x.finished = true
        if let t = x.timer { host.loop.cancel(t); x.timer = nil }
        if let slot = x.slot { x.slot = nil; release(slot) }
        exchanges[ObjectIdentifier(x)] = nil
        if let n = inFlight[x.connectionID] { inFlight[x.connectionID] = n > 1 ? n - 1 : nil }
    }

    /// Hop and stop messages are at most 4096 bytes (wire.md §5.2).
    static let maxMessageLength = 4096
}
