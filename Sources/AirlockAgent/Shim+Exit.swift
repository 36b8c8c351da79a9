import AirlockCore
import AirlockIO
import AirlockWire

/// Targets that are not services go to the agent's exits (design §3): the name travels as text
/// in an `ExitRequest` (nothing is resolved inside the agent's namespace), the exit decides,
/// resolves and connects, and answers; after `OK` the stream is the connection.
extension Shim {
    /// Asks the exits in order for `target`; the next one only when an exit refuses by policy
    /// (another exit may have the rule). Completes on the loop, never inside this call.
    func openExit(_ target: ProxyTarget, _ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        tryExit(0, target, first: nil, completion)
    }

    private func tryExit(_ index: Int, _ target: ProxyTarget, first: ShimRefusal?,
                         _ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        guard index < config.exits.count else {
            let refusal = first ?? ShimRefusal(.unknownService, "\(target.host) is not a service of this agent and it has no exit")
            host.loop.runSoon { completion(.failure(refusal)) }
            return
        }
        let exit = config.exits[index]
        exitStream(exit) { [self] r in
            switch r {
            case .failure(let refusal):
                next(index, target, refusal, first, completion)
            case .success(let s):
                ShimExitRequest(stream: s, exit: exit.name, target: target, timeout: config.exitTimeout).start { [self] r in
                    switch r {
                    case .success: completion(r)
                    case .failure(let refusal): next(index, target, refusal, first, completion)
                    }
                }
            }
        }
    }

    /// After `refusal` from exit `index`: the next exit when it was a policy refusal, else the end.
    private func next(_ index: Int, _ target: ProxyTarget, _ refusal: ShimRefusal, _ first: ShimRefusal?,
                      _ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        if refusal.kind == .deniedByPolicy && index + 1 < config.exits.count {
            tryExit(index + 1, target, first: first ?? refusal, completion)
        } else {
            completion(.failure(refusal.kind == .deniedByPolicy ? (first ?? refusal) : refusal))
        }
    }

    /// A fresh `/airlock/exit/1.0.0` stream: on the relay connection for the relay's own exit,
    /// on the circuit to an exit peer otherwise.
    private func exitStream(_ exit: ShimConfig.Exit, _ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        if exit.peer != nil, let link = exitLinks[exit.name] {
            link.openStream(completion)
            return
        }
        relayLink.whenConnected { r in
            switch r {
            case .failure(let refusal):
                completion(.failure(refusal))
            case .success(let c):
                c.openStream(ProtocolID.airlockExit, timeout: 10) { r in
                    switch r {
                    case .success(let s): completion(.success(s))
                    case .failure(let e): completion(.failure(ShimRefusal(.exitUnavailable, "exit \(exit.name) (the relay): \(e)")))
                    }
                }
            }
        }
    }
}

/// One request to one exit over a fresh stream: send the request, wait for the answer (at most
/// `timeout` seconds), and hand the stream over on `OK`. Any bytes that came with the answer
/// stay buffered on the stream for the bridge.
///
/// **Thread:** the loop. Kept alive by the stream's callbacks and the timer until it answers.
final class ShimExitRequest {
    let stream: Libp2pStream
    let exit: String
    let target: ProxyTarget
    let timeout: Double
    private var completion: ((Result<Libp2pStream, ShimRefusal>) -> Void)?
    private var timer: TimerID?

    init(stream: Libp2pStream, exit: String, target: ProxyTarget, timeout: Double) {
        self.stream = stream
        self.exit = exit
        self.target = target
        self.timeout = timeout
    }

    func start(_ completion: @escaping (Result<Libp2pStream, ShimRefusal>) -> Void) {
        self.completion = completion
        timer = stream.connection.loop.schedule(after: .milliseconds(Int64(timeout * 1000))) { [self] in
            timer = nil
            fail(ShimRefusal(.exitUnavailable, "exit \(exit) did not answer within \(timeout) s"))
        }
        stream.onReadable = { [self] in read() }
        stream.onEnd = { [self] end in fail(ShimRefusal(.exitUnavailable, "exit \(exit) ended the stream (\(end)) before answering")) }
        stream.send(ExitRequest(host: target.host, port: target.port).framed())
    }

    private func read() {
        let response: ExitResponse
        do {
            guard let body = try stream.readMessage(cap: ExitWire.maxMessageLength) else { return }
            response = try ExitResponse(decoding: body[...])
        } catch {
            return fail(ShimRefusal(.exitUnavailable, "exit \(exit) answered something else: \(error)"))
        }
        guard response.status == .ok else { return fail(ShimRefusal.exit(exit, response)) }
        guard let done = finish() else { return }
        done(.success(stream))
    }

    private func fail(_ refusal: ShimRefusal) {
        guard let done = finish() else { return }
        stream.reset()
        done(.failure(refusal))
    }

    /// The completion, once; clears the callbacks this request set.
    private func finish() -> ((Result<Libp2pStream, ShimRefusal>) -> Void)? {
        guard let done = completion else { return nil }
        completion = nil
        if let t = timer { stream.connection.loop.cancel(t); timer = nil }
        stream.onReadable = nil
        stream.onEnd = nil
        return done
    }
}
