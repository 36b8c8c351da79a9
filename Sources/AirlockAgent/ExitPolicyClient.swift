import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockRelay
import AirlockWire

/// An exit peer's side of `/airlock/exit/policy/1.0.0`: it asks its relay, which holds the
/// policy and the per-run identities, about each request (`check`, an `ExitService.Check`), and
/// hears of reloads (`onReload`).
///
/// One stream on the relay connection of `relayClient` (the one the exit's reservation lives
/// on), opened on first use and again after it is lost. Fails closed: with no connection, no
/// stream, or no answer within `answerTimeout`, the request is denied (`policy-unavailable`).
///
/// **Thread:** the host's loop only.
public final class ExitPolicyClient {
    public let relayClient: RelayClient
    let logger: Logger
    /// Seconds the relay has to answer one check.
    public var answerTimeout: Double = 5
    /// Checks waiting for an answer at most; more are denied at once.
    public var maxPending = 1024
    /// Called on each reload notice (the exit then re-checks what it holds open).
    public var onReload: (() -> Void)?

    private var stream: Libp2pStream?
    private var opening = false
    private var queued: [ExitCheck] = []
    private var waiting: [UInt64: (completion: (ExitVerdict) -> Void, timer: TimerID)] = [:]
    private var nextID: UInt64 = 1
    private var loop: EventLoop { relayClient.host.loop }

    public init(relayClient: RelayClient, logger: Logger) {
        self.relayClient = relayClient
        self.logger = logger
    }

    /// Asks the relay; answers on the loop, never inside this call.
    public func check(source: PeerID, host: NormalisedHost, port: UInt16, purpose: ExitCheck.Purpose = .request,
                      _ completion: @escaping (ExitVerdict) -> Void) {
        let id = nextID
        nextID &+= 1
        guard waiting.count < maxPending else {
            return loop.runSoon { completion(ExitVerdict(id: id, allowed: false, reason: "policy-unavailable",
                                                         text: "\(self.maxPending) policy checks already waiting")) }
        }
        let timer = loop.schedule(after: .milliseconds(Int64(answerTimeout * 1000))) { [weak self] in
            self?.answer(ExitVerdict(id: id, allowed: false, reason: "policy-unavailable",
                                     text: "the relay did not answer within \(self?.answerTimeout ?? 0) s"))
        }
        waiting[id] = (completion, timer)
        let c = ExitCheck(id: id, peer: source, host: host.description, port: port, purpose: purpose)
        if let s = stream, s.isOpen {
            s.send(c.framed())
        } else {
            queued.append(c)
            open()
        }
    }

    private func open() {
        guard !opening else { return }
        guard let connection = relayClient.relayConnection else {
            return loop.runSoon { [weak self] in self?.failAll("no connection to the relay") }
        }
        opening = true
        connection.openStream(ProtocolID.airlockExitPolicy, timeout: answerTimeout) { [weak self] r in
            guard let self else { return }
            self.opening = false
            switch r {
            case .failure(let e):
                self.failAll("cannot open the policy stream: \(e)")
            case .success(let s):
                self.stream = s
                s.onReadable = { [weak self, unowned s] in self?.read(s) }
                s.onEnd = { [weak self] _ in
                    guard let self, self.stream === s else { return }
                    self.stream = nil
                    self.failAll("the policy stream ended")
                }
                for c in self.queued { s.send(c.framed()) }
                self.queued.removeAll()
            }
        }
    }

    private func read(_ s: Libp2pStream) {
        while true {
            let v: ExitVerdict
            do {
                guard let body = try s.readMessage(cap: ExitWire.maxMessageLength) else { return }
                v = try ExitVerdict(decoding: body[...])
            } catch {
                logger.warn("exit_policy_bad_answer", ["reason": error])
                s.reset()
                return
            }
            if v.reloaded {
                logger.info("exit_policy_reloaded", [:])
                onReload?()
            } else {
                answer(v)
            }
        }
    }

    private func answer(_ v: ExitVerdict) {
        guard let w = waiting.removeValue(forKey: v.id) else { return }
        loop.cancel(w.timer)
        w.completion(v)
    }

    /// Denies every check queued or waiting: fail closed.
    private func failAll(_ why: String) {
        logger.warn("exit_policy_unavailable", ["reason": why])
        queued.removeAll()
        for id in Array(waiting.keys).sorted() {
            answer(ExitVerdict(id: id, allowed: false, reason: "policy-unavailable", text: why))
        }
    }
}
