#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockPolicy
import AirlockWire
@testable import AirlockRelay

/// Policy reload on a live relay (design §2 invariant 7): narrowing ends what is no longer
/// allowed at once, widening applies to the next CONNECT, and every decision is audited.
extension RelayTests {
    @Suite struct RelayServerReloadTests {
        /// The Lab's policy with `rules` (JSON array members) and the services named in `services`.
        static func policy(_ lab: Lab, services: [String] = ["svc", "svc2", "svc3"], rules: String) -> Policy {
            let members = services.map { #""\#($0)": { "peer": "\#(lab.peer($0))" }"# }.joined(separator: ", ")
            let text = """
            { "version": 1, "services": { \(members) },
              "peers": { "client": { "peer": "\(lab.peer("client"))" } }, "rules": [ \(rules) ] }
            """
            return try! Policy.parse(text: text, file: "reloaded.json")
        }

        @Test func narrowingClosesLiveCircuitsAndRevokesReservations() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.reservedService("svc") {
                    lab.reservedService("svc2") {
                        lab.reservedService("svc3") {
                            lab.connect("client") { _, c in
                                lab.ask(c, .connect(to: lab.peer("svc"))) { a, toSvc in
                                    lab.ask(c, .connect(to: lab.peer("svc2"))) { b, _ in
                                        var ended: Libp2pStream.End?
                                        toSvc.onEnd = { ended = $0 }
                                        let before = lab.relay.circuits.count
                                        // client → svc goes; svc3 is no longer a service.
                                        let o = lab.relay.reload(policy: Self.policy(lab, services: ["svc", "svc2"],
                                                                                      rules: #"{ "from": "client", "to": "svc2" }"#))
                                        lab.eventually("the revoked circuit's stream ended", { ended != nil }) {
                                            lab.ask(c, .connect(to: lab.peer("svc"))) { again, _ in
                                                let left = lab.relay.circuits.map { $0.target == lab.peer("svc2") ? "svc2" : "?" }
                                                let revoked = lab.logs.lines("circuit_revoked", "reason=no-rule").count
                                                let closed = lab.logs.lines("circuit_closed", "reason=\"revoked: no-rule\"").count
                                                let res = lab.logs.lines("reservation_ended", "reason=revoked").count
                                                done(.success("\(a.status!) \(b.status!) before \(before) outcome \(o.circuitsClosed)/\(o.reservationsEnded) "
                                                    + "ended \(ended.map { "\($0)" } ?? "-") left \(left) again \(again.status!) "
                                                    + "logged \(revoked) \(closed) \(res) reservations \(lab.relay.reservations.count)"))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "OK OK before 2 outcome 1/1 ended reset left [\"svc2\"] again PERMISSION_DENIED logged 1 1 1 reservations 2")
        }

        @Test func aNoOpReloadKeepsEverythingAndWideningAppliesAtOnce() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.reservedService("svc") {
                    lab.reservedService("svc3") {
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, _ in
                                lab.ask(c, .connect(to: lab.peer("svc3"))) { denied, _ in
                                    let same = lab.relay.reload(policy: lab.relay.policy)
                                    let wide = lab.relay.reload(policy: Self.policy(lab, rules: """
                                        { "from": "client", "to": "svc" }, { "from": "client", "to": "svc3" }
                                        """))
                                    lab.ask(c, .connect(to: lab.peer("svc3"))) { allowed, _ in
                                        done(.success("\(a.status!) \(denied.status!) \(allowed.status!) no-op \(same.circuitsClosed) "
                                            + "wide \(wide.circuitsClosed) live \(lab.relay.circuits.count)"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(result == "OK PERMISSION_DENIED OK no-op 0 wide 0 live 2")
        }

        /// A CONNECT whose STOP answer is still outstanding when the reload lands is refused,
        /// not spliced: the decision made under the old policy does not outlive it.
        @Test func aConnectInProgressIsRefusedWhenNarrowed() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.connect("svc") { h, target in
                    var stops: [Libp2pStream] = []
                    lab.serveStop(on: h) { _, s in stops.append(s) }  // never answers
                    lab.ask(target, .reserve) { _, _ in
                        lab.connect("client") { _, c in
                            lab.ask(c, .connect(to: lab.peer("svc"))) { a, _ in
                                done(.success("\(a.status!) circuits \(lab.relay.circuits.count) "
                                    + "logged \(lab.logs.lines("circuit_refused", "reason=no-rule", "revoked").count)"))
                            }
                            lab.eventually("STOP reached the target", { !stops.isEmpty }) {
                                lab.relay.reload(policy: Self.policy(lab, rules: #"{ "from": "client", "to": "svc2" }"#))
                                // The answer now comes too late to splice anything.
                                stops[0].send(StopMessage.status(.ok).framed())
                            }
                        }
                    }
                }
            }
            #expect(result == "PERMISSION_DENIED circuits 0 logged 1")
        }

        @Test func auditLinesAreJSONWithTheDecisionFields() async throws {
            let box = LogBox()
            let _: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                let audit = AuditLog.capture()
                audit.addSink { box.append($0) }
                lab.relay.audit = audit
                lab.reservedService("svc") {
                    lab.connect("stranger") { _, s in
                        lab.ask(s, .reserve) { _, _ in
                            lab.connect("client") { _, c in
                                lab.ask(c, .connect(to: lab.peer("svc"))) { _, stream in
                                    var sent = false
                                    stream.onWritable = nil
                                    _ = [UInt8](repeating: 7, count: 1000).withUnsafeBytes { stream.write($0) }
                                    sent = true
                                    lab.ask(c, .connect(to: lab.peer("svc3"))) { _, _ in
                                        lab.relay.reload(policy: Self.policy(lab, rules: #"{ "from": "client", "to": "svc2" }"#))
                                        lab.relay.reloadRefused(file: "bad.json", problems: ["bad.json:1:1: oops"])
                                        lab.eventually("the circuit closed", { sent && lab.relay.circuits.isEmpty }) { done(.success("")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let objects = try box.all.map { line -> [String: Any] in
                #expect(line.hasSuffix("}\n") && !line.dropLast().contains("\n"))
                return try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            }
            for o in objects {
                for k in ["time", "event", "agent", "peer", "target", "decision", "reason"] { #expect(o.keys.contains(k), "\(k) missing in \(o)") }
                #expect((o["time"] as? String)?.hasSuffix("Z") == true)
            }
            func find(_ event: String, _ decision: Any?, _ reason: String) -> [String: Any]? {
                objects.first { $0["event"] as? String == event && $0["reason"] as? String == reason
                    && (decision.map { "\($0)" } ?? "<null>") == (($0["decision"] as? String) ?? "<null>") }
            }
            #expect(find("reserve", "allow", "service")?["agent"] as? String == "svc")
            #expect(find("reserve", "deny", "unknown-peer")?["status"] as? String == "PERMISSION_DENIED")
            let allowed = try #require(find("connect", "allow", "rule"))
            #expect(allowed["agent"] as? String == "client")
            #expect(allowed["target_name"] as? String == "svc")
            #expect(find("connect", "deny", "no-rule")?["target_name"] as? String == "svc3")
            #expect(find("revoke", "deny", "no-rule") != nil)
            #expect(find("reload", "allow", "valid")?["circuits_closed"] as? Int == 1)
            #expect(find("reload", "deny", "invalid")?["problems"] as? String == "bad.json:1:1: oops")
            let closed = try #require(find("circuit_closed", nil, "revoked: no-rule"))
            #expect(closed["bytes_up"] as? Int == 1000)
            #expect(closed["bytes_down"] as? Int == 0)
            #expect(closed["seconds"] is Double || closed["seconds"] is Int)
        }

        @Test func recentRefusalsAreKeptUpToTheCap() async throws {
            let result: String = try await onLoop { loop, done in
                let lab = Lab(loop: loop, done: done)
                lab.connect("client") { _, c in
                    var n = 0
                    func next() {
                        guard n < RelayServer.maxRecentRefusals + 3 else {
                            let r = lab.relay.recentRefusals
                            done(.success("\(r.count) \(r.last!.kind) \(r.last!.reason) \(r.last!.sourceName ?? "-") \(r.last!.targetName ?? "-")"))
                            return
                        }
                        n += 1
                        lab.ask(c, .connect(to: lab.peer("svc3"))) { _, _ in next() }
                    }
                    next()
                }
            }
            #expect(result == "\(RelayServer.maxRecentRefusals) connect no-rule client svc3")
        }
    }
}
