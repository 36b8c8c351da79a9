import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockWire

/// One exit request, from its bytes to the bridge or the refusal (the steps are listed on
/// `ExitService`). Every step is guarded by `done`, so a stream that ends, a timer that fires
/// and a late answer cannot both finish it.
///
/// **Thread:** the service's loop. The exchange keeps itself alive through the stream's and the
/// timers' callbacks until it finishes.
final class ExitExchange {
    let service: ExitService
    let stream: Libp2pStream
    let source: PeerID
    private var loop: EventLoop { service.host.loop }
    private var timer: TimerID?
    private var done = false
    private var target = "-"
    private var agent: String?
    /// The TCP connection being made, with the address it goes to.
    private var tcp: TCPConnection?

    init(service: ExitService, stream: Libp2pStream) {
        self.service = service
        self.stream = stream
        self.source = stream.remotePeer
    }

    func start() {
        arm(service.settings.requestTimeout) { [self] in
            refuse(ExitResponse(status: .malformed, reason: "request-timeout", text: "no request within \(service.settings.requestTimeout) s"))
        }
        stream.onEnd = { [self] _ in
            guard !done else { return }
            finish()
            tcp?.onClose = nil
            tcp?.abort()
        }
        stream.onReadable = { [self] in readRequest() }
        readRequest()
    }

    // MARK: steps

    private func readRequest() {
        guard !done else { return }
        let request: ExitRequest
        do {
            guard let body = try stream.readMessage(cap: ExitWire.maxMessageLength) else { return }
            request = try ExitRequest(decoding: body[...])
        } catch {
            return refuse(ExitResponse(status: .malformed, reason: "bad-request", text: "\(error)"))
        }
        // Later bytes (none are expected before the answer) stay buffered for the bridge.
        stream.onReadable = nil
        cancelTimer()
        let host: NormalisedHost
        switch NormalisedHost.parse(Substring(request.host)) {
        case .success(let h): host = h
        case .failure(let e):
            target = "\(request.host.prefix(128)):\(request.port)"
            return refuse(ExitResponse(status: .malformed, reason: "bad-host", text: e.description))
        }
        target = "\(host):\(request.port)"
        service.check(source, host, request.port, .request) { [self] v in decided(v, host: host, port: request.port) }
    }

    private func decided(_ v: ExitVerdict, host: NormalisedHost, port: UInt16) {
        guard !done else { return }
        agent = v.agent
        guard v.allowed else {
            return refuse(ExitResponse(status: .denied, reason: v.reason, text: v.text))
        }
        switch host {
        case .address(let a):
            // The rule matched an address pattern, which names this address explicitly.
            choose(among: [a], host: host, port: port, reason: v.reason, namedByRule: true)
        case .name(let name):
            arm(service.settings.resolveTimeout) { [self] in
                refuse(ExitResponse(status: .unresolved, reason: "timeout", text: "\(name) did not resolve within \(service.settings.resolveTimeout) s"))
            }
            let loop = self.loop
            let answer: (Result<[IPAddress], ResolveError>) -> Void = { [self] result in resolved(result, host: host, port: port, reason: v.reason) }
            nonisolated(unsafe) let onLoop = answer
            service.resolver.resolve(name) { result in loop.executeLoopBound { onLoop(result) } }
        }
    }

    private func resolved(_ result: Result<[IPAddress], ResolveError>, host: NormalisedHost, port: UInt16, reason: String) {
        guard !done else { return }
        cancelTimer()
        switch result {
        case .failure(let e):
            refuse(ExitResponse(status: .unresolved, reason: e.reason, text: e.text))
        case .success(let addresses):
            choose(among: addresses.map { $0.mappedIPv4 ?? $0 }, host: host, port: port, reason: reason, namedByRule: false)
        }
    }

    /// Checks the addresses in order against the blocklist (asking the policy for a blocked one
    /// whether a rule names it) and connects to the first that passes; the next passing one is
    /// tried only when that connection fails.
    private func choose(among addresses: [IPAddress], host: NormalisedHost, port: UInt16, reason: String, namedByRule: Bool,
                        firstBlocked: (IPAddress, AddressBlocklist.Entry)? = nil) {
        guard !done else { return }
        guard let a = addresses.first else {
            // Nothing left: a connection that was tried and failed says more than an address
            // skipped as blocked; a blocked address says more than nothing.
            if lastConnectFailure == nil, let (address, entry) = firstBlocked {
                return refuse(ExitResponse(status: .blocked, reason: entry.token,
                                           text: "\(host) is \(address), \(entry.text); no rule names it", address: address))
            }
            return refuse(ExitResponse(status: .connectFailed, reason: "no-address", text: "no address of \(host) could be reached"))
        }
        let rest = Array(addresses.dropFirst())
        guard let entry = AddressBlocklist.blocked(a) else {
            return connect(a, host: host, port: port, reason: reason, blocked: false) { [self] in
                choose(among: rest, host: host, port: port, reason: reason, namedByRule: namedByRule, firstBlocked: firstBlocked)
            }
        }
        let passOn = firstBlocked ?? (a, entry)
        if namedByRule {
            return connect(a, host: host, port: port, reason: reason, blocked: true) { [self] in
                choose(among: rest, host: host, port: port, reason: reason, namedByRule: namedByRule, firstBlocked: passOn)
            }
        }
        service.check(source, .address(a), port, .address) { [self] v in
            guard !done else { return }
            if v.allowed {
                connect(a, host: host, port: port, reason: reason, blocked: true) { [self] in
                    choose(among: rest, host: host, port: port, reason: reason, namedByRule: namedByRule, firstBlocked: passOn)
                }
            } else {
                choose(among: rest, host: host, port: port, reason: reason, namedByRule: namedByRule, firstBlocked: passOn)
            }
        }
    }

    /// Connects to `address` (and nothing else); on failure calls `next`, or refuses when there
    /// is nothing left to try (`next` decides).
    private func connect(_ address: IPAddress, host: NormalisedHost, port: UInt16, reason: String, blocked: Bool,
                         next: @escaping () -> Void) {
        guard let socketAddress = SocketAddress(ip: address.description, port: port) else { return next() }
        if let guardDial = service.settings.dialGuard, !guardDial(address) {
            return failedConnect(address, port, "outside-dial-guard", next)
        }
        let c = TCPConnection.connect(to: socketAddress, on: loop)
        tcp = c
        arm(service.settings.connectTimeout) { [self] in
            c.onClose = nil
            c.abort()
            tcp = nil
            failedConnect(address, port, "timed out after \(service.settings.connectTimeout) s", next)
        }
        c.onConnect = { [self] in
            guard !done else { c.abort(); return }
            cancelTimer()
            tcp = nil
            let info = ExitService.OpenConnection(source: source, agent: agent, host: host, port: port, address: address,
                                                  blocked: blocked, opened: .now())
            finish()
            service.connected(stream, c, info: info, reason: reason)
        }
        c.onClose = { [self] error in
            guard !done else { return }
            cancelTimer()
            tcp = nil
            failedConnect(address, port, error.map { "\($0)" } ?? "closed", next)
        }
    }

    private var lastConnectFailure: String?

    private func failedConnect(_ address: IPAddress, _ port: UInt16, _ why: String, _ next: () -> Void) {
        service.logger.info("exit_connect_failed", ["exit": service.name, "peer": source, "target": target, "address": address, "reason": why])
        lastConnectFailure = "\(address.isIPv4 ? address.description : "[\(address)]"):\(port): \(why)"
        next()
    }

    // MARK: endings

    private func refuse(_ response: ExitResponse) {
        guard !done else { return }
        var r = response
        if r.status == .connectFailed, let last = lastConnectFailure {
            r = ExitResponse(status: .connectFailed, reason: "connect-failed", text: last)
        }
        finish()
        service.refuse(stream, r, target: target, agent: agent)
    }

    private func finish() {
        guard !done else { return }
        done = true
        cancelTimer()
        stream.onReadable = nil
        stream.onEnd = nil
        service.requestEnded()
    }

    private func arm(_ seconds: Double, _ body: @escaping () -> Void) {
        cancelTimer()
        timer = loop.schedule(after: .milliseconds(Int64(seconds * 1000))) { [self] in
            timer = nil
            guard !done else { return }
            body()
        }
    }

    private func cancelTimer() {
        if let t = timer { loop.cancel(t); timer = nil }
    }
}
