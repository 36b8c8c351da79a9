import AirlockAgent
import AirlockCore
import AirlockIO
#if canImport(Glibc)
import Glibc
#endif

/// The launcher's side of one `airlock run` after the request went out: follows the relay's
/// replies, forwards signals through the lifeline, takes the exit status from it, and when the
/// relay goes away reconnects and reattaches the run, which keeps running meanwhile. With a
/// terminal it starts the relaying once the signals are watched, and passes SIGWINCH on.
///
/// **Thread:** the loop's (the main thread's) only.
final class RunSession {
    enum Phase { case starting, running, detached }

    let loop: EventLoop
    let path: String
    let request: ControlProtocol.RunRequest
    let verbose: Bool
    /// Our end of the lifeline: while it is open the run lives.
    let lifeline: Int32
    /// The agent's pty, when run from a terminal; the caller finishes it.
    let terminal: RunTerminal?
    private var client: ControlClient?
    private var phase = Phase.starting
    /// What `started` gave: the run's description and the namespace and pidfds to reattach with.
    private var info: ControlProtocol.Started?
    private var kept: [Int32] = []
    /// The command's status as its init reported it through the lifeline.
    private var status: Int32?
    private var outcome: Result<Int32, CommandFailure>?
    private var retry = 0.05
    private var deadline: TimerID?

    init(loop: EventLoop, path: String, request: ControlProtocol.RunRequest, lifeline: Int32, terminal: RunTerminal? = nil,
         verbose: Bool) {
        self.loop = loop; self.path = path; self.request = request; self.lifeline = lifeline; self.terminal = terminal
        self.verbose = verbose
    }

    deinit { kept.forEach { _ = close($0) } }

    /// Serves `client` (the request already sent) until the run is over; returns the exit status.
    func run(_ client: ControlClient) throws -> Int32 {
        let watcher: SignalWatcher
        do {
            let signals = [SIGINT, SIGTERM, SIGHUP] + (terminal != nil ? [SIGWINCH] : [])
            watcher = try SignalWatcher(loop: loop, signals: signals) { [unowned self] sig in
                if sig == SIGWINCH { terminal?.resize(); return }
                // To the init, which hands it to the command; works with or without a relay.
                // (From a terminal, ^C is a byte for the agent's pty; this is `kill` of run.)
                var byte = UInt8(sig)
                _ = send(lifeline, &byte, 1, Int32(MSG_NOSIGNAL))
            }
            try loop.register(lifeline, interest: .read) { [unowned self] _ in lifelineReadable() }
        } catch { throw CommandFailure("cannot watch signals and the lifeline: \(error)") }
        defer { watcher.cancel(); loop.deregister(lifeline) }
        // After the watcher: the copying threads inherit the blocked signals, and no signal
        // can end us with the terminal raw.
        try terminal?.start()
        try adopt(client)
        loop.run()
        if let c = self.client { loop.deregister(c.socket.fd); c.close() }
        switch outcome {
        case .success(let code): return code
        case .failure(let f): throw f
        case nil: throw CommandFailure("the run ended without a status")
        }
    }

    private func finish(_ r: Result<Int32, CommandFailure>) {
        guard outcome == nil else { return }
        outcome = r
        loop.stop()
    }

    private func adopt(_ c: ControlClient) throws(CommandFailure) {
        client = c
        do {
            try loop.register(c.socket.fd, interest: .read) { [unowned self] _ in controlReadable() }
        } catch { throw CommandFailure("cannot wait for the relay: \(error)") }
    }

    /// A notice on stderr; while the terminal is raw (no output processing), ended by CR LF.
    private func say(_ text: String) {
        CLI.printErr("airlock: \(text)" + (terminal?.isRaw == true && isatty(2) == 1 ? "\r\n" : ""))
    }

    // MARK: the relay

    /// Edge-triggered: takes every message there is.
    private func controlReadable() {
        while outcome == nil, let c = client {
            let message: (bytes: [UInt8], fds: [Int32])?
            do { message = try c.receive(timeout: .zero) } catch {
                if error == .ETIMEDOUT || error == .EAGAIN { return }
                return relayLost("cannot read from the relay: \(error)")
            }
            guard let message else { return relayLost("the relay closed the connection") }
            handle(message)
        }
    }

    private func handle(_ message: (bytes: [UInt8], fds: [Int32])) {
        var fds = message.fds
        defer { fds.forEach { _ = close($0) } }
        do {
            let type = try ControlMessage.decode(message.bytes).type
            switch type {
            case "started", "reattached":
                let s = try ControlMessage.decode(ControlProtocol.Started.self, from: message.bytes).body
                if type == "started" {
                    kept = fds
                    fds = []
                    if verbose { say("\(s.name) runs as agent \(s.agent), peer \(s.peer), netns \(s.netns ?? "-"), \(s.agentAddress) → relay \(s.hubAddress)") }
                } else {
                    say("reattached \(s.name) to the relay")
                }
                info = s
                phase = .running
                retry = 0.05
            case "suspended":
                let s = try ControlMessage.decode(ControlProtocol.Suspended.self, from: message.bytes).body
                say("\(s.reason): \(request.command[0]) keeps running without network until the relay is back")
                phase = .detached
            case "exited":
                let x = try ControlMessage.decode(ControlProtocol.Exited.self, from: message.bytes).body
                let code = status ?? (x.code >= 0 ? x.code : 137)
                if status == nil { say(x.description) } else if verbose || code > 128 { say("exited with status \(code)") }
                finish(.success(code))
            case "error":
                let f = try ControlMessage.decode(ControlProtocol.Failure.self, from: message.bytes).body
                finish(.failure(CommandFailure(f.message)))
            default:
                break  // a newer relay's message
            }
        } catch {
            finish(.failure(CommandFailure("the relay sent a malformed answer: \(error)")))
        }
    }

    /// The control connection is gone: before the start that ends the run; later, the run goes
    /// on and we reattach it once a relay answers again.
    private func relayLost(_ why: String) {
        if let c = client { loop.deregister(c.socket.fd); c.close() }
        client = nil
        if let status { return finish(.success(status)) }
        guard phase != .starting, info != nil else {
            return finish(.failure(CommandFailure("\(why) before the run started (did the relay stop?)")))
        }
        if phase == .running { say("\(why): \(request.command[0]) keeps running without network until the relay is back") }
        phase = .detached
        scheduleReattach()
    }

    private func scheduleReattach() {
        let delay = retry
        retry = min(retry * 2, 1)
        loop.schedule(after: .milliseconds(Int64(delay * 1000))) { [weak self] in self?.reattach() }
    }

    private func reattach() {
        guard outcome == nil, client == nil, let info else { return }
        let c: ControlClient
        do { c = try ControlClient.connect(path: path) } catch { return scheduleReattach() }
        let r = ControlProtocol.ReattachRequest(agent: info.agent, name: info.name, peer: info.peer, allow: request.allow,
                                                agentAddress: info.agentAddress)
        do {
            try ControlCall.send(c, "reattach", r, fds: kept)
            try adopt(c)
        } catch {
            c.close()
            return scheduleReattach()
        }
    }

    // MARK: the lifeline

    /// Edge-triggered: takes every message there is.
    private func lifelineReadable() {
        var buf = [UInt8](repeating: 0, count: 16)
        while outcome == nil {
            let n = buf.withUnsafeMutableBytes { recv(lifeline, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return }  // EAGAIN: wait for the next edge
            if !lifelineMessage(buf, count: n) { return }
        }
    }

    /// Acts on one lifeline message (`count` 0: the init is gone); false when no more can come.
    private func lifelineMessage(_ buf: [UInt8], count n: Int) -> Bool {
        // A limit report (`struct airlock_limit_report`: magic, reason): the init killed the
        // tree for a bound and exits 137 without a status of its own.
        if n == 8, buf.withUnsafeBytes({ $0.load(as: Int32.self) }) == 0x4c49_4d54 {
            let raw = buf.withUnsafeBytes { $0.load(fromByteOffset: 4, as: Int32.self) }
            let what = LimitWatch.Reason(rawValue: raw).map { request.limits.option($0) } ?? "a limit"
            say("\(what) reached: the agent's tree was killed")
            status = 137
            if client == nil { finish(.success(137)) } else { armDeadline(seconds: 5) }
            return true
        }
        if n == MemoryLayout<Int32>.size {
            status = buf.withUnsafeBytes { $0.load(as: Int32.self) }
            // With a relay, wait for its word that the run is torn down; without one, done.
            if client == nil { finish(.success(status!)) } else { armDeadline(seconds: 5) }
            return true
        }
        guard n == 0 else { return true }  // nothing else is sent this way
        // The init is gone. Without a status it was killed (detach, out of memory); the relay
        // says why, if it is there.
        loop.deregister(lifeline)
        guard status == nil else { return false }
        if client == nil {
            say("the agent was killed")
            finish(.success(137))
        } else {
            armDeadline(seconds: 2)
        }
        return false
    }

    private func armDeadline(seconds: Int64) {
        guard deadline == nil else { return }
        deadline = loop.schedule(after: .seconds(seconds)) { [weak self] in
            guard let self else { return }
            if let status = self.status { return self.finish(.success(status)) }
            self.say("the agent was killed")
            self.finish(.success(137))
        }
    }
}
