/// Inbound frame processing (wire.md §4.1–4.5, §9 P7).
extension YamuxSession {
    /// Feeds received (decrypted) bytes, in any split, and reports what they mean through
    /// `handle`, in wire order. Payload is delivered as it arrives, as slices of `bytes` that are
    /// valid only during the callback; nothing but a partial header is buffered.
    ///
    /// Answers the protocol needs (ping ACK, window updates, RST for refused streams, GoAway on
    /// a violation) are appended to the output. On a protocol violation the session appends
    /// GoAway(protocol error), throws, and throws the same error on every later call: the owner
    /// should flush the output and close the connection.
    public func receive(_ bytes: UnsafeRawBufferPointer, _ handle: (YamuxEvent) -> Void) throws(YamuxError) {
        if let failure { throw failure }
        precondition(!receiving, "YamuxSession.receive re-entered from its own callback")
        receiving = true
        defer { receiving = false }
        let count = bytes.count
        var pos = 0
        while true {
            if bodyRemaining > 0 {
                guard pos < count else { return }
                let n = min(bodyRemaining, count - pos)
                bodyRemaining -= n
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[pos ..< pos + n])
                pos += n
                // The owner may have reset the stream during an earlier callback.
                if bodyDeliver && streams[bodyStream] != nil { handle(.data(bodyStream, chunk)) }
                if bodyRemaining == 0 && bodyFin { remoteFinished(bodyStream, handle) }
                continue
            }
            let header: YamuxHeader
            if headerFill == 0 && count - pos >= YamuxFrame.headerSize {
                header = YamuxHeader(parsing: bytes, at: pos)
                pos += YamuxFrame.headerSize
            } else {
                let n = min(YamuxFrame.headerSize - headerFill, count - pos)
                for k in 0 ..< n { headerBytes[headerFill + k] = bytes[pos + k] }
                headerFill += n
                pos += n
                guard headerFill == YamuxFrame.headerSize else { return }
                headerFill = 0
                header = headerBytes.withUnsafeBytes { YamuxHeader(parsing: $0) }
            }
            try process(header, handle)
        }
    }

    /// Records a fatal violation: appends GoAway(protocol error) once and returns the error.
    func fail(_ error: YamuxError) -> YamuxError {
        if failure == nil {
            failure = error
            if !localGoneAway {
                localGoneAway = true
                appendHeader(.goAway, [], YamuxFrame.sessionID, YamuxGoAwayCode.protocolError.rawValue)
            }
        }
        return error
    }

    private func process(_ h: YamuxHeader, _ handle: (YamuxEvent) -> Void) throws(YamuxError) {
        guard h.version == YamuxFrame.version else { throw fail(.badVersion(h.version)) }
        guard let type = YamuxFrameType(rawValue: h.type) else { throw fail(.badType(h.type)) }
        switch type {
        case .data, .windowUpdate:
            try processStreamFrame(h, isData: type == .data, handle)
        case .ping:
            // The stream ID of session frames is not checked, as go does not check it.
            if h.flags.contains(.syn) {
                appendHeader(.ping, .ack, YamuxFrame.sessionID, h.length)
            } else if h.flags.contains(.ack) {
                handle(.pong(h.length))
            }
        case .goAway:
            remoteGoneAway = true
            handle(.goAway(YamuxGoAwayCode(rawValue: h.length)))
        }
    }

    private func processStreamFrame(_ h: YamuxHeader, isData: Bool, _ handle: (YamuxEvent) -> Void) throws(YamuxError) {
        let id = h.streamID
        guard id != YamuxFrame.sessionID else { throw fail(.streamFrameOnSession(type: h.type)) }
        if h.flags.contains(.syn) {
            guard !role.owns(id) else { throw fail(.wrongParity(id)) }
            guard streams[id] == nil else { throw fail(.duplicateStream(id)) }
            if localGoneAway || inboundCount >= config.maxInboundStreams {
                // Refuse this stream only (wire.md §4.2, §4.5); its body, if any, is skipped.
                if !localGoneAway { inboundStreamsRefusedByCap += 1 }
                appendHeader(.windowUpdate, .rst, id, 0)
                if isData { skipBody(h.length) }
                return
            }
            // Accept at once: the ACK goes out exactly once, with our larger grant if any.
            streams[id] = YamuxStream(inbound: true, recvWindow: config.maxWindow)
            inboundCount += 1
            appendHeader(.windowUpdate, .ack, id, config.maxWindow - YamuxFrame.initialWindow)
            handle(.inboundStream(id))
        }
        // Look up after the callback: the owner may have reset the new stream already.
        guard let i = streams.index(forKey: id) else {
            // Unknown or closed stream: read and discard the body, ignore the frame (wire.md §4.2).
            if isData { skipBody(h.length) }
            return
        }
        var s = streams.values[i]
        // Any frame from the remote on our stream shows it accepted the stream; ACK is the rule,
        // but counting only ACK would leak pending slots on a peer that forgets it.
        if s.awaitingAck {
            s.awaitingAck = false
            pendingOutbound -= 1
            streams.values[i].awaitingAck = false
        }
        if h.flags.contains(.rst) {
            removeStream(id)
            if isData { skipBody(h.length) }
            // go-yamux v5 puts an error code in the length of WindowUpdate|RST (wire.md §4.2).
            handle(.reset(id, code: isData ? 0 : h.length))
            return
        }
        if isData {
            guard h.length <= s.recvWindow else {
                throw fail(.windowExceeded(stream: id, length: h.length, window: s.recvWindow))
            }
            streams.values[i].recvWindow = s.recvWindow - h.length
            bodyStream = id
            bodyRemaining = Int(h.length)
            // Data after the remote's FIN is a peer bug: skip it rather than deliver it.
            bodyDeliver = !s.remoteClosed
            bodyFin = h.flags.contains(.fin)
            if h.length == 0 && bodyFin { remoteFinished(id, handle) }
            return
        }
        if h.length > 0 {
            guard s.sendWindow <= UInt32.max - h.length else {
                throw fail(.windowOverflow(stream: id, delta: h.length))
            }
            s.sendWindow += h.length
            streams.values[i].sendWindow = s.sendWindow
            if s.blocked {
                streams.values[i].blocked = false
                if !s.localClosed { handle(.sendWindowOpened(id)) }
            }
        }
        if h.flags.contains(.fin) { remoteFinished(id, handle) }
    }

    private func skipBody(_ length: UInt32) {
        bodyRemaining = Int(length)
        bodyDeliver = false
        bodyFin = false
    }

    /// The remote sent FIN on `id`: report it, and free the stream if we had sent FIN too.
    private func remoteFinished(_ id: UInt32, _ handle: (YamuxEvent) -> Void) {
        guard let i = streams.index(forKey: id), !streams.values[i].remoteClosed else { return }
        streams.values[i].remoteClosed = true
        let bothDone = streams.values[i].localClosed
        if bothDone { removeStream(id) }
        handle(.remoteClosedWrite(id))
        if bothDone { handle(.streamClosed(id)) }
    }
}
