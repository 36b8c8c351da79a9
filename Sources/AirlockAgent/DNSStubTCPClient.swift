import AirlockIO

/// One TCP connection to the DNS stub: reads length-prefixed queries (RFC 1035 §4.2.2), split
/// anywhere, and answers each REFUSED. It is closed by a length below the shortest query (17)
/// or above `DNSStubServer.Limits.maxTCPMessage`, a message that is no query, `tcpIdleTimeout`
/// without a complete query, or answers piling up past `maxTCPOutput`.
///
/// **Thread:** the server's loop only.
final class DNSStubTCPClient {
    /// The shortest message `DNSStub` can take as a query: header, root name, type and class.
    static let minMessage = 12 + 5

    let tcp: TCPConnection
    /// Strong: the server's `clients` holds us back until `onClose`, which breaks the cycle.
    let server: DNSStubServer
    /// A query split across reads, length prefix first; empty between queries. Reserved once,
    /// at the first split.
    private var pending: [UInt8] = []
    private var lastQuery = MonotonicTime.now()
    private var idleTimer: TimerID?
    /// `close()` was called: nothing more is read or answered (`onClose` follows from the loop).
    private var closing = false
    private var ended = false

    init(tcp: TCPConnection, server: DNSStubServer) {
        self.tcp = tcp
        self.server = server
    }

    func start() {
        tcp.highWaterMark = server.limits.maxTCPOutput
        tcp.lowWaterMark = server.limits.maxTCPOutput / 4
        tcp.onRead = { [self] bytes in received(bytes) }
        // Until onClose the connection's callbacks hold the client; it drops them after.
        tcp.onClose = { [self] _ in finished() }
        armIdleTimer(after: server.limits.tcpIdleTimeout)
    }

    /// Closes the connection (and so ends the client).
    func close() {
        closing = true
        tcp.close()
    }

    private func finished() {
        guard !ended else { return }
        ended = true
        if let t = idleTimer { _ = server.loop.cancel(t) }
        idleTimer = nil
        server.clientEnded(self)
    }

    /// One timer per idle period, re-armed from its own firing rather than on every query.
    private func armIdleTimer(after delay: Duration) {
        idleTimer = server.loop.schedule(after: delay) { [weak self] in
            guard let self, !self.closing else { return }
            self.idleTimer = nil
            let deadline = self.lastQuery.advanced(by: self.server.limits.tcpIdleTimeout)
            let now = MonotonicTime.now()
            if now < deadline {
                self.armIdleTimer(after: .nanoseconds(Int64(now.nanoseconds(until: deadline))))
            } else {
                self.close()
            }
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes
        while !rest.isEmpty && !closing {
            if pending.isEmpty && rest.count >= 2 {
                let length = Int(rest[0]) << 8 | Int(rest[1])
                guard acceptable(length) else { return close() }
                guard rest.count >= 2 + length else {
                    keep(rest)
                    return
                }
                answer(UnsafeRawBufferPointer(rebasing: rest[2..<(2 + length)]))
                rest = UnsafeRawBufferPointer(rebasing: rest[(2 + length)...])
                continue
            }
            // Completing a query that began in an earlier read (or a lone first length byte).
            let need = pending.count < 2 ? 2 - pending.count : 2 + declaredLength - pending.count
            let take = min(need, rest.count)
            keep(UnsafeRawBufferPointer(rebasing: rest[..<take]))
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
            if pending.count == 2 && !acceptable(declaredLength) { return close() }
            if pending.count >= 2 && pending.count == 2 + declaredLength {
                pending.withUnsafeBytes { answer(UnsafeRawBufferPointer(rebasing: $0[2...])) }
                pending.removeAll(keepingCapacity: true)
            }
        }
    }

    private var declaredLength: Int { Int(pending[0]) << 8 | Int(pending[1]) }

    private func acceptable(_ length: Int) -> Bool {
        length >= Self.minMessage && length <= server.limits.maxTCPMessage
    }

    private func keep(_ bytes: UnsafeRawBufferPointer) {
        if pending.capacity == 0 { pending.reserveCapacity(2 + server.limits.maxTCPMessage) }
        pending.append(contentsOf: bytes)
    }

    private func answer(_ message: UnsafeRawBufferPointer) {
        guard let out = server.tcpAnswer(to: message) else { return close() }
        lastQuery = MonotonicTime.now()
        tcp.write(out)
        // A client that does not read its answers is cut rather than buffered for.
        if !tcp.isWritable { close() }
    }
}
