import Foundation
import Synchronization
import Testing
import AirlockCore
@testable import AirlockAgent

@Suite struct HostsFileTests {
    @Test func readsEtcHostsForm() throws {
        let h = try HostsFile.parse("""
            # the exit's names
            127.0.0.1   app.test  App2.TEST.
            ::1\tv6.test   # comment after
            \r
            127.0.0.2 app.test
            ::ffff:127.0.0.3 mapped.test
            127.0.0.1 bücher.test
            """, file: "hosts")
        #expect(h.lookup("app.test") == [IPAddress("127.0.0.1")!, IPAddress("127.0.0.2")!])
        #expect(h.lookup("app2.test") == [IPAddress("127.0.0.1")!])
        #expect(h.lookup("v6.test") == [IPAddress("::1")!])
        #expect(h.lookup("mapped.test") == [IPAddress("127.0.0.3")!])
        #expect(h.lookup("xn--bcher-kva.test") == [IPAddress("127.0.0.1")!])
        #expect(h.lookup("other.test") == nil)
    }

    @Test func mistakesNameTheFileAndLine() {
        #expect(throws: HostsFile.ParseError(description: "h:2: \"app.test\" is not an IP address; expected ADDRESS NAME…")) {
            try HostsFile.parse("127.0.0.1 a.test\napp.test 127.0.0.1\n", file: "h")
        }
        #expect(throws: HostsFile.ParseError(description: "h:1: 127.0.0.1 names no host; expected ADDRESS NAME…")) {
            try HostsFile.parse("127.0.0.1\n", file: "h")
        }
        #expect(throws: HostsFile.ParseError(description: "h:1: \"a/b\" is not a host name")) {
            try HostsFile.parse("127.0.0.1 ok.test a/b", file: "h")
        }
    }

    @Test func loadSaysWhatIsWrongWithTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-hosts-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("hosts").path
        #expect(throws: HostsFile.ParseError.self) { try HostsFile.load(path: path) }
        try Data("127.0.0.1 a.test\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try HostsFile.load(path: path).lookup("a.test") == [IPAddress("127.0.0.1")!])
    }
}

@Suite struct ExitResolverTests {
    func resolve(_ r: ExitResolver, _ name: String) async -> Result<[IPAddress], ResolveError> {
        await withCheckedContinuation { c in r.resolve(name) { c.resume(returning: $0) } }
    }

    @Test func theHostsMapIsAskedFirstAndDNSCanBeOff() async throws {
        let hosts = try HostsFile.parse("127.0.0.1 app.test\n", file: "h")
        let r = ExitResolver(hosts: hosts, systemDNS: false)
        #expect(try await resolve(r, "app.test").get() == [IPAddress("127.0.0.1")!])
        guard case .failure(let e) = await resolve(r, "elsewhere.test") else { Issue.record("resolved with DNS off"); return }
        #expect(e.reason == "dns-off")
    }
}
