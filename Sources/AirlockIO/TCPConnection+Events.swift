/// Readiness handling: connect completion, the read loop, flushing, FIN and teardown.
extension TCPConnection {
    func handle(_ events: EventLoop.Events) {
        if state == .connecting {
            guard !events.isDisjoint(with: [.writable, .error, .hangup]) else { return }
            completeConnect()
            guard state == .open else { return }
        }
        guard state == .open else { return }
        if events.contains(.error) {
            teardown(socket.takeError() ?? .ECONNRESET)
            return
        }
        if !events.isDisjoint(with: [.readHangup, .hangup]) { peerHungUp = true }
        if !events.isDisjoint(with: [.readable, .readHangup, .hangup]) { readLoop() }
        if state == .open, events.contains(.writable), !output.isEmpty { flushOutput() }
    }

    /// Finishes a non-blocking connect: `SO_ERROR` says whether it worked.
    func completeConnect() {
        guard state == .connecting else { return }
        if let error = socket.takeError() {
            teardown(error)
            return
        }
        state = .open
        onConnect?()
        // Writes made while connecting, and a shutdown requested meanwhile.
        if state == .open, !output.isEmpty { flushOutput() }
        if state == .open, writeClosing, output.isEmpty, !finSent { sendFIN() }
    }

    /// Reads until the socket is drained, paused, closed or the per-event budget is spent.
    private func readLoop() {
        guard !isReadingPaused, !inputClosed else { return }
        precondition(!loop.readBufferBusy, "nested read on the shared read buffer")
        let buffer = loop.readBuffer
        var reads = 0
        while state == .open && !isReadingPaused && !inputClosed {
            let got: Int?
            do throws(Errno) { got = try socket.read(into: buffer) } catch {
                teardown(error)
                return
            }
            guard let n = got else { return }  // drained: the next arrival is a new edge
            if n == 0 {
                inputClosed = true
                handleEOF()
                return
            }
            bytesRead += UInt64(n)
            loop.readBufferBusy = true
            onRead?(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            loop.readBufferBusy = false
            reads += 1
            // A short read means the kernel queue is empty; data arriving after it raises a new
            // edge. After a FIN, keep reading to see the EOF itself.
            if n < buffer.count && !peerHungUp { return }
            if reads >= maxReadsPerEvent {
                scheduleRead()
                return
            }
        }
    }

    /// Continues reading from the loop (after a fairness yield or `resumeReading`).
    func scheduleRead() {
        guard !readScheduled else { return }
        readScheduled = true
        loop.runSoon { [self] in
            readScheduled = false
            if state == .open { readLoop() }
        }
    }

    private func handleEOF() {
        if let onEOF {
            onEOF()
        } else {
            close(afterFlush: true)
        }
        if state == .open && finSent { teardown(nil) }
    }

    func enqueue(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        output.append(bytes)
        if output.count >= highWaterMark { backPressured = true }
    }

    private func flushOutput() {
        do throws(Errno) {
            bytesWritten += UInt64(try output.flush(to: socket))
        } catch {
            teardown(error)
            return
        }
        if output.isEmpty {
            if closeWhenFlushed { teardown(nil); return }
            if writeClosing && !finSent { sendFIN(); if state != .open { return } }
        }
        if backPressured && output.count <= lowWaterMark {
            backPressured = false
            onWritable?()
        }
    }

    func sendFIN() {
        finSent = true
        do throws(Errno) { try socket.shutdownWrite() } catch {
            teardown(error)
            return
        }
        if inputClosed { teardown(nil) }
    }

    /// Closes the fd now and reports `error` to `onClose` from the loop.
    func teardown(_ error: Errno?) {
        guard state != .closed else { return }
        state = .closed
        output.removeAll()
        loop.deregister(socket.fd)
        socket.close()
        // Reported from the loop so `onClose` never runs inside a caller's write or close.
        loop.runSoon { [self] in finishClose(error) }
    }

    /// Calls `onClose` once and drops every callback (breaking cycles through upper layers).
    func finishClose(_ error: Errno?) {
        let callback = onClose
        onConnect = nil; onRead = nil; onEOF = nil; onWritable = nil; onClose = nil
        callback?(error)
    }
}
