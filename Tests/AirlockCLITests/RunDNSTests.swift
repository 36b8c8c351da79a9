import Foundation
import Testing

/// Privileged: inside a real `airlock run`, the shim's DNS stub on 127.0.0.1:53 answers a
/// resolver's queries REFUSED (the shim runs without capabilities, so this also proves the
/// namespace lets it bind port 53). Only 127.0.0.1 inside the agent's namespace is queried.
@Suite(.serialized, .enabled(if: AgentPrivilege.shouldRun, AgentPrivilege.skipReason))
struct RunDNSTests {
    static let script = #"""
        import socket, struct
        q = struct.pack(">HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x03api\x07example\x03com\x00" + struct.pack(">HH", 1, 1)
        def show(kind, r):
            print(kind, hex(struct.unpack(">H", r[:2])[0]), "qr" if r[2] & 0x80 else "-", "rcode", r[3] & 0x0F, r[12:] == q[12:])
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(10)
        u.sendto(q, ("127.0.0.1", 53))
        show("udp", u.recv(512))
        t = socket.create_connection(("127.0.0.1", 53), timeout=10)
        t.sendall(struct.pack(">H", len(q)) + q)
        def take(n):
            b = b""
            while len(b) < n:
                c = t.recv(n - len(b))
                if not c: raise SystemExit("closed")
                b += c
            return b
        show("tcp", take(struct.unpack(">H", take(2))[0]))
        """#

    @Test func aResolverInsideTheAgentIsRefusedAtOnce() async throws {
        let rig = try await AgentRig(); defer { rig.finish() }
        let r = try await rig.run(["--", "/usr/bin/python3", "-c", Self.script])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "udp 0xbeef qr rcode 5 True\ntcp 0xbeef qr rcode 5 True", "REFUSED, same id, question echoed: \(r.stdout)")
        #expect(!rig.relayLines("shim_ready").isEmpty)
    }
}
