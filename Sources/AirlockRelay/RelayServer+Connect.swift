import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockWire

/// CONNECT (wire.md §5.5): checks, STOP to the target on its reserving connection, splice.
extension RelayServer {
    /// Checks in the order of wire.md §5.5 and the relay's invariants, then opens STOP.
    func connect(_ x: HopExchange, _ message: HopMessage) {
        let conn = x.stream.connection
        let source = conn.remotePeer
        guard running else { return refuseConnect(x, .permissionDenied, target: nil, "stopped", "the relay is shutting down") }
        guard !conn.isRelayed else { return refuseConnect(x, .permissionDenied, target: nil, "relayed", "CONNECT over a relayed connection") }
        guard let target = message.peer?.id else { return refuseConnect(x, .malformedMessage, target: nil, "no-peer", "CONNECT without a peer") }
        let decision = policy.scoped(policy.mayConnect(from: source, to: target, bindings: bindings),
                                     target: target, scope: runScopes[source], bindings: bindings)
        guard decision.allowed else {
            onPolicyRefusal?(source, policy.entry(for: target, bindings: bindings)?.name ?? "\(target)", decision.reason.rawValue)
            return refuseConnect(x, .permissionDenied, target: target, decision.reason.rawValue, decision.text)
        }
        guard let entry = table.lookup(target, now: now()) else {
            return refuseConnect(x, .noReservation, target: target, "no-reservation", "target holds no live reservation")
        }
        let slot = circuitSlot(source: source, target: target, decision: decision)
        if let (cap, text) = capReached(slot) {
            stats[keyPath: cap] += 1
            return refuseConnect(x, .resourceLimitExceeded, target: target, "circuit-cap", text)
        }
        // Never dial, never use another connection to the target (design §2 invariant 5).
        guard let targetConn = host.connection(id: entry.connection), !targetConn.isClosed, targetConn.isEstablished,
              targetConn.remotePeer == target else {
            return refuseConnect(x, .noReservation, target: target, "reservation-connection-gone", "the connection the target reserved on is gone")
        }
        acquire(slot)
        x.slot = slot
        x.reason = decision.reason.rawValue
        x.limit = RelayServer.limit(decision.limits)
        targetConn.openStream(ProtocolID.stop, timeout: config.stopAnswerTimeout) { [weak self, weak x] result in
            guard let self, let x else { if case .success(let s) = result { s.reset() }; return }
            switch result {
            case .failure(let e):
                self.refuseConnect(x, .connectionFailed, target: target, "stop-open-failed", e.description)
            case .success(let stop):
                guard !x.finished else { stop.reset(); return }
                self.sendStop(x, stop, source: source, target: target)
            }
        }
    }

    private func sendStop(_ x: HopExchange, _ stop: Libp2pStream, source: PeerID, target: PeerID) {
        x.stop = stop
        stop.send(StopMessage.connect(from: source, limit: x.limit).framed())
        x.timer = host.loop.schedule(after: .milliseconds(Int64(config.stopAnswerTimeout * 1000))) { [weak self, weak x] in
            guard let self, let x, !x.finished else { return }
            x.timer = nil
            self.stats.stopAnswerTimeouts += 1
            self.refuseConnect(x, .connectionFailed, target: target, "stop-timeout", "target did not answer STOP within \(self.config.stopAnswerTimeout) s")
        }
        stop.onEnd = { [weak self, weak x] how in
            guard let self, let x, !x.finished else { return }
            x.stop = nil
            self.refuseConnect(x, .connectionFailed, target: target, "stop-ended", "STOP stream \(Circuit.describe(how)) before an answer")
        }
        stop.onReadable = { [weak self, weak x, unowned stop] in
            guard let self, let x, !x.finished else { return }
            let answer: StopMessage
            do throws(DecodeError) {
                guard let body = try stop.readMessage(cap: RelayServer.maxMessageLength) else { return }
                answer = try StopMessage(decoding: body[...])
            } catch {
                return self.refuseConnect(x, .connectionFailed, target: target, "stop-malformed", "\(error)")
            }
            guard answer.type == .status, answer.status == .ok else {
                let what = answer.type == .status ? "\(answer.status ?? .unused)" : "a CONNECT"
                return self.refuseConnect(x, .connectionFailed, target: target, "stop-refused", "target answered \(what)")
            }
            self.splice(x, stop)
        }
    }

    /// Both OKs are in: answer the source, then hand both streams to a `Circuit`.
    private func splice(_ x: HopExchange, _ stop: Libp2pStream) {
        guard let slot = x.slot else { preconditionFailure("splice without circuit slot") }
        x.slot = nil  // the circuit holds the caps from here on
        x.stop = nil
        finish(x)
        let hop = x.stream
        hop.onEnd = nil; stop.onEnd = nil; stop.onReadable = nil
        hop.send(HopMessage.status(.ok, limit: x.limit).framed())
        let id = nextCircuitID
        nextCircuitID += 1
        let circuit = Circuit(id: id, slot: slot, hop: hop, stop: stop, limit: x.limit)
        circuit.onClose = { [weak self] c, reason in self?.circuitClosed(c, reason: reason) }
        circuitsByID[id] = circuit
        stats.circuitsOpened += 1
        var fields: KeyValuePairs<String, CustomStringConvertible> = ["src": slot.source, "dst": slot.target, "circuit": id, "limit": "none"]
        if let l = x.limit { fields = ["src": slot.source, "dst": slot.target, "circuit": id, "limit_seconds": l.duration, "limit_bytes": l.data] }
        logger.info("circuit_opened", fields)
        if let audit {
            let targetName: AuditLog.Value = policy.entry(for: slot.target, bindings: bindings).map { .string($0.name) } ?? .null
            let limitSeconds = UInt64(x.limit?.duration ?? 0), limitBytes = x.limit?.data ?? 0
            let extra: [(String, AuditLog.Value)] = [("circuit", .uint(id)), ("target_name", targetName),
                                                     ("limit_seconds", .uint(limitSeconds)), ("limit_bytes", .uint(limitBytes))]
            audit.record(event: "connect", decision: "allow", reason: x.reason ?? "rule", peer: slot.source, target: slot.target,
                         agent: policy.entry(for: slot.source, bindings: bindings)?.name, fields: extra)
        }
        circuit.start()
    }

    private func circuitClosed(_ c: Circuit, reason: String) {
        guard circuitsByID.removeValue(forKey: c.id) != nil else { return }
        stats.circuitsClosed += 1
        closedBytesUp += c.up.forwarded
        closedBytesDown += c.down.forwarded
        release(c.slot)
        let seconds = (c.age * 1000).rounded() / 1000
        logger.info("circuit_closed", ["src": c.source, "dst": c.target, "bytes_up": c.up.forwarded, "bytes_down": c.down.forwarded,
                                       "seconds": seconds, "reason": reason])
        if let audit {
            let extra: [(String, AuditLog.Value)] = [("circuit", .uint(c.id)), ("bytes_up", .uint(c.up.forwarded)),
                                                     ("bytes_down", .uint(c.down.forwarded)), ("seconds", .double(seconds))]
            audit.record(event: "circuit_closed", decision: nil, reason: reason, peer: c.source, target: c.target,
                         agent: policy.entry(for: c.source, bindings: bindings)?.name, fields: extra)
        }
    }

    /// Answers the source with `status` (resetting any STOP stream) and logs why.
    func refuseConnect(_ x: HopExchange, _ status: RelayStatus, target: PeerID?, _ reason: String, _ text: String) {
        guard !x.finished else { return }
        if let stop = x.stop { x.stop = nil; stop.onEnd = nil; stop.reset() }
        stats.circuitsRefused[status.description, default: 0] += 1
        logger.info("circuit_refused", ["src": x.stream.remotePeer, "dst": target.map { "\($0)" } ?? "-", "status": status,
                                        "reason": reason, "text": text])
        let source = x.stream.remotePeer
        let sourceName = policy.entry(for: source, bindings: bindings)?.name
        let targetName = target.flatMap { policy.entry(for: $0, bindings: bindings)?.name }
        noteRefusal(RelayRefusal(time: now(), kind: "connect", source: source, sourceName: sourceName, target: target,
                            targetName: targetName, status: status.description, reason: reason))
        if let audit {
            let name: AuditLog.Value = targetName.map { .string($0) } ?? .null
            let extra: [(String, AuditLog.Value)] = [("status", .string(status.description)), ("target_name", name), ("text", .string(text))]
            audit.record(event: "connect", decision: "deny", reason: reason, peer: source, target: target, agent: sourceName, fields: extra)
        }
        answer(x, .status(status))
    }

    // MARK: circuit caps

    private func circuitSlot(source: PeerID, target: PeerID, decision: Policy.Decision) -> CircuitSlot {
        var agentKey: String?, agentCap = 0, ruleKey: String?, ruleCap = 0
        if let a = policy.agent(for: source, bindings: bindings), let cap = a.limits.maxCircuits {
            agentKey = "agent:\(a.name)"; agentCap = Int(cap)
        }
        if let from = decision.source, let to = policy.entry(for: target, bindings: bindings)?.name,
           let cap = policy.rule(from: from, to: to)?.limits.maxCircuits {
            ruleKey = "rule:\(from)>\(to)"; ruleCap = Int(cap)
        }
        return CircuitSlot(source: source, target: target, agentKey: agentKey, agentCap: agentCap, ruleKey: ruleKey, ruleCap: ruleCap)
    }

    /// Which cap `slot` would break, if any: its counter and a description.
    private func capReached(_ slot: CircuitSlot) -> (WritableKeyPath<RelayCounters, Int>, String)? {
        if circuitTotal >= config.maxCircuits { return (\.circuitsRefusedTotalCap, "\(config.maxCircuits) circuits in total") }
        for p in Set([slot.source, slot.target]) where circuitsPerPeer[p, default: 0] >= config.maxCircuitsPerPeer {
            return (\.circuitsRefusedPeerCap, "\(config.maxCircuitsPerPeer) circuits for peer \(p)")
        }
        if let k = slot.agentKey, circuitsPerKey[k, default: 0] >= slot.agentCap {
            return (\.circuitsRefusedPolicyCap, "max_circuits \(slot.agentCap) for \(k)")
        }
        if let k = slot.ruleKey, circuitsPerKey[k, default: 0] >= slot.ruleCap {
            return (\.circuitsRefusedPolicyCap, "max_circuits \(slot.ruleCap) for \(k)")
        }
        return nil
    }

    private func acquire(_ slot: CircuitSlot) {
        circuitTotal += 1
        for p in Set([slot.source, slot.target]) { circuitsPerPeer[p, default: 0] += 1 }
        for k in [slot.agentKey, slot.ruleKey].compactMap({ $0 }) { circuitsPerKey[k, default: 0] += 1 }
    }

    func release(_ slot: CircuitSlot) {
        circuitTotal -= 1
        for p in Set([slot.source, slot.target]) {
            let n = circuitsPerPeer[p, default: 1] - 1
            circuitsPerPeer[p] = n > 0 ? n : nil
        }
        for k in [slot.agentKey, slot.ruleKey].compactMap({ $0 }) {
            let n = circuitsPerKey[k, default: 1] - 1
            circuitsPerKey[k] = n > 0 ? n : nil
        }
    }
}
