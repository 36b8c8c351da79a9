import AirlockCore
import AirlockIO

/// One TCP connection an agent made to the shim: its proxy handshake (HTTP or SOCKS5, or none
/// for a port forward), the answer, and the hand-over to a `TCPBridge`.
///
/// Bytes are collected in `buffer` until the handshake decodes; then reading pauses, so nothing
/// the client sends while the stream is being opened is read without a reader (the kernel holds
/// it, and the bridge resumes reading). Whatever followed the handshake in the buffer is the
/// bridge's initial payload, at most the handshake's cap plus one read. A handshake that does not
/// finish within `Shim.handshakeTimeout` is dropped.
///
/// Refusals are written, then the connection is half-closed and drained until the client closes
/// (or `lingerTime` passes): closing with unread request bytes would send an RST, which can make
/// the client lose the answer.
///
/// **Thread:** the shim's loop. The client keeps itself alive through its connection's callbacks
/// and then through the bridge's.
final class ShimClient {
    enum Mode {
        case http
        case socks
        case forward(service: String)
    }

    /// How long a refused client may take to close after the answer.
    static let lingerTime: Duration = .seconds(2)

    let tcp: TCPConnection
    let mode: Mode
    let shim: Shim
    private var buffer = ByteBuffer()
    private var http = HTTPProxyRequestDecoder()
    private var socks = Socks5Handshake()
    private var timer: TimerID?
    private var done = false

    init(tcp: TCPConnection, mode: Mode, shim: Shim) {
        self.tcp = tcp
        self.mode = mode
        self.shim = shim
    }

    /// Starts reading the handshake (or, for a forward, opens the stream at once).
    func start() {
        tcp.onClose = { [self] _ in
            if !done { done = true; cancelTimer(); shim.clientEnded() }
        }
        if case .forward(let service) = mode {
            tcp.pauseReading()
            shim.openStream(service: service) { [self] r in connectForward(r, service: service) }
            return
        }
        timer = tcp.loop.schedule(after: shim.handshakeTimeout) { [self] in
            timer = nil
            shim.logger.info("shim_handshake_timeout", ["client": remoteText, "proxy": modeText])
            finish()
            tcp.close()
        }
        tcp.onRead = { [self] raw in read(raw) }
        tcp.onEOF = { [self] in finish(); tcp.close() }
    }

    private var remoteText: String { (try? tcp.socket.remoteAddress()).map { "\($0)" } ?? "-" }
    private var modeText: String {
        switch mode {
        case .http: "http"
        case .socks: "socks"
        case .forward: "forward"
        }
    }

    // MARK: handshake

    private func read(_ raw: UnsafeRawBufferPointer) {
        guard !done else { return }
        buffer.write(raw)
        switch mode {
        case .http: readHTTP()
        case .socks: readSOCKS()
        case .forward: break
        }
    }

    private func readHTTP() {
        let request: HTTPProxyRequest
        do {
            guard let r = try http.decode(from: &buffer) else { return }
            request = r
        } catch {
            shim.logger.info("shim_bad_request", ["client": remoteText, "proxy": "http", "reason": error.reason])
            refuse(HTTPProxyResponse.badRequest(reason: error.reason))
            return
        }
        handshakeDone()
        let target = request.target
        resolve(target) { [self] r in
            switch r {
            case .failure(let refusal):
                refuse(refusal.httpResponse)
            case .success(let s):
                var initial: [UInt8]
                if request.kind == .connect {
                    tcp.write(HTTPProxyResponse.connectionEstablished)
                    initial = []
                } else {
                    initial = request.upstreamHead
                }
                initial += buffer.readableView
                bridge(s, initial: initial, target: "\(target)")
            }
        }
    }

    private func readSOCKS() {
        let step = socks.feed(from: &buffer)
        if !step.output.isEmpty { tcp.write(step.output) }
        switch step.outcome {
        case .needMore:
            return
        case .failed(let failure):
            shim.logger.info("shim_bad_request", ["client": remoteText, "proxy": "socks", "reason": failure.description])
            refuse([])
        case .request(let target):
            handshakeDone()
            resolve(target) { [self] r in
                switch r {
                case .failure(let refusal):
                    refuse(refusal.socksReply.message)
                case .success(let s):
                    tcp.write(Socks5Reply.succeeded.message)
                    bridge(s, initial: Array(buffer.readableView), target: "\(target)")
                }
            }
        }
    }

    /// The handshake is whole: stop reading until the bridge takes over.
    private func handshakeDone() {
        tcp.pauseReading()
        cancelTimer()
    }

    /// A service name reaches that service (the port is the service's business); anything else
    /// goes to the agent's exits as text, never resolved here.
    private func resolve(_ target: ProxyTarget, _ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        let done: (Result<Libp2pStream, ShimRefusal>) -> Void = { [self] r in
            if case .failure(let refusal) = r { shim.logRefusal(refusal, client: remoteText, target: "\(target)") }
            completion(r)
        }
        if shim.services[target.host] != nil {
            shim.openStream(service: target.host, done)
        } else {
            shim.openExit(target, done)
        }
    }

    private func connectForward(_ r: Result<Libp2pStream, ShimRefusal>, service: String) {
        switch r {
        case .failure(let refusal):
            shim.logRefusal(refusal, client: remoteText, target: service)
            finish()
            // No protocol to say why: the client sees its connection cut.
            tcp.abort()
        case .success(let s):
            bridge(s, initial: [], target: service)
        }
    }

    // MARK: endings

    private func bridge(_ s: Libp2pStream, initial: [UInt8], target: String) {
        guard !done else { s.reset(); return }
        done = true
        buffer = ByteBuffer()
        let client = remoteText
        let started = MonotonicTime.now()
        let b = TCPBridge(tcp: tcp, stream: s, initialPayload: initial)
        let shim = self.shim
        b.onFinish = { b in
            shim.logger.info("shim_stream", ["client": client, "target": target, "peer": s.remotePeer,
                                             "bytes_out": b.bytesToStream, "bytes_in": b.bytesToTCP,
                                             "outcome": ServicePeer.describe(b.outcome),
                                             "ms": started.nanoseconds(until: .now()) / 1_000_000])
            shim.clientEnded()
        }
        b.start()
    }

    /// Answers `response` (if any), half-closes, drains what the client still sends, and closes
    /// once it has closed too or after `lingerTime`.
    private func refuse(_ response: [UInt8]) {
        guard !done else { return }
        finish()
        if !response.isEmpty { tcp.write(response) }
        tcp.onRead = { _ in }
        tcp.onEOF = nil  // with no EOF handler the connection closes once its output is flushed
        tcp.shutdownWrite()
        tcp.resumeReading()
        tcp.loop.schedule(after: ShimClient.lingerTime) { [tcp] in tcp.close() }
    }

    /// The client's part is over (a refusal or a drop): counted out once.
    private func finish() {
        guard !done else { return }
        done = true
        cancelTimer()
        shim.clientEnded()
    }

    private func cancelTimer() {
        if let t = timer { tcp.loop.cancel(t); timer = nil }
    }
}
