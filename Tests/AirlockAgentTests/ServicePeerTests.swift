import Testing
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockRelay
import AirlockWire
@testable import AirlockAgent

/// The service side on its own: stream accounting, a target that refuses, a stream on a direct
/// connection, and re-reserving (the end-to-end paths run in `ShimTests`).
@Suite(.serialized) struct ServicePeerTests {
    func withLab(_ body: (ShimLab) async throws -> Void) async throws {
        let lab = try ShimLab()
        do {
            try await lab.start()
            try await body(lab)
        } catch {
            await lab.shutdown()
            throw error
        }
        await lab.shutdown()
    }

    @Test func countsAndLogsBytesOfEachStream() async throws {
        try await withLab { lab in
            let r = try await lab.curl(["--noproxy", "*", "http://127.0.0.1:\(lab.forwardPort)/"])
            #expect(r.stdout == ShimLab.webBody, "\(r)")
            try await lab.waitUntil("stream finished") { lab.web.streamsFinished == 1 }
            let (toTarget, fromTarget, head) = try await lab.onLoop {
                (lab.web.bytesToTarget, lab.web.bytesFromTarget, lab.webServer.heads.first ?? "")
            }
            let response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(ShimLab.webBody.utf8.count)\r\n"
                + "Connection: close\r\n\r\n\(ShimLab.webBody)"
            #expect(toTarget == UInt64(head.utf8.count))
            #expect(fromTarget == UInt64(response.utf8.count))
            let lines = lab.logs.lines("service_stream", "service=web", "peer=\(lab.peer("agent"))",
                                       "bytes_in=\(toTarget)", "bytes_out=\(fromTarget)", "outcome=completed")
            #expect(lines.count == 1, "\(lab.logs.lines("service_stream"))")
        }
    }

    @Test func targetThatRefusesResetsTheStream() async throws {
        try await withLab { lab in
            try await lab.onLoop { lab.webServer.close() }
            let end = EndBox()
            try await lab.onLoop {
                lab.shim.links["web"]!.openStream { r in
                    guard case .success(let s) = r else { end.set("open failed: \(r)"); return }
                    s.onEnd = { how in end.set("\(how)") }
                    s.onReadable = { _ = s.take() }
                }
            }
            try await lab.waitUntil("stream ended") { end.value != nil }
            #expect(end.value == "reset")
            let failures = try await lab.onLoop { lab.web.targetFailures }
            #expect(failures == 1)
            #expect(lab.logs.lines("service_target_failed", "service=web", "reason=\"ECONNREFUSED").count == 1,
                    "\(lab.logs.lines("service_target_failed"))")
            // Through the forward the agent sees its connection cut, not an answer.
            let r = try await lab.curl(["--noproxy", "*", "http://127.0.0.1:\(lab.forwardPort)/"])
            #expect(r.status != 0 && r.stdout.isEmpty, "\(r)")
        }
    }

    @Test func streamOnADirectConnectionIsRefused() async throws {
        try await withLab { lab in
            let end = EndBox()
            try await lab.onLoop {
                let addr = try lab.web.host.listen(on: .loopbackV4(port: 0))
                let intruder = Host(loop: lab.loop, identity: lab.keys["agent"]!)
                intruder.dial(addr, expect: lab.peer("web")) { r in
                    guard case .success(let c) = r else { end.set("dial failed: \(r)"); return }
                    c.openStream(ProtocolID.airlockTCP) { r in
                        guard case .success(let s) = r else { end.set("refused at negotiation"); return }
                        s.onEnd = { how in end.set("\(how)"); intruder.shutdown() }
                    }
                }
            }
            try await lab.waitUntil("stream ended") { end.value != nil }
            #expect(end.value == "reset")
            let (opened, heads) = try await lab.onLoop { (lab.web.streamsOpened, lab.webServer.heads.count) }
            #expect(opened == 0)
            #expect(heads == 0)
            #expect(lab.logs.lines("service_stream_refused", "reason=direct-connection").count == 1)
        }
    }

    @Test func reservesAgainAfterLosingTheRelay() async throws {
        try await withLab { lab in
            let grants = EndBox()
            try await lab.onLoop {
                lab.web.onReservation = { r in if case .success = r { grants.set("granted") } }
                lab.web.relayClient.relayConnection!.close(reason: "test")
            }
            try await lab.waitUntil("re-reserved") { grants.value == "granted" && lab.relay.reservations.count == 2 }
            let r = try await lab.viaHTTP("http://web/")
            #expect(r.stdout == ShimLab.webBody, "\(r)")
        }
    }
}

/// A value set once from the loop and read from the test.
final class EndBox: @unchecked Sendable {
    // @unchecked Sendable: written and read only on the lab's loop (through onLoop/waitUntil).
    private(set) var value: String?
    func set(_ v: String) { if value == nil { value = v } }
}
