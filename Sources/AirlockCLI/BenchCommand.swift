#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO

/// `airlock bench`: measures the relay on this machine against its performance targets, over
/// 127.0.0.1 only, and stops by itself. See docs/performance.md for the method and the figures.
enum BenchCommand: Command {
    static let name = "bench"
    static let summary = "measure relay throughput, CPU and memory on this machine"
    static let help = """
        usage: airlock bench [--bytes SIZE] [--py-bytes SIZE] [--latency N] [--scale N] [--circuits N]
                             [--connections N] [--phases LIST] [--quick] [--json FILE]

        Measures on this machine, in one run, each figure beside its ceiling or baseline:
          ceiling   ChaCha20-Poly1305 encrypt and decrypt on one core (64 KiB frames)
          forwarder a plain user-space TCP forwarder moving the same bytes (the floor's part)
          veth      raw TCP over a veth between two namespaces the bench makes (root)
          relay     one stream from a client peer through a relay child to a service peer:
                    the relay's CPU per GiB against the floor (target: at most 1.5×)
          path      one stream from a program in an agent namespace (airlock run) through the
                    shim, the relay and a service peer (airlock expose) to a sink on
                    127.0.0.1: throughput against the path's ceiling (target: at least 50 %)
                    and each process's CPU per GiB (root)
          latency   set-up p50/p99 of a new TCP connection over an existing circuit (targets:
                    0.5 ms, 2 ms) and of a first connection that builds the circuit (3, 10 ms)
          scale     N concurrent TCP connections through the relay from several agents: the
                    relay's memory per connection (target: under 32 KiB) (root)
          memory    idle circuits that each moved a little data, and idle peer connections: the
                    relay's memory per circuit (under 64 KiB) and per connection (under 32 KiB)
          py        the relay phase's transfer through py-libp2p's relay (needs `make venv`)
          slirp     the same bytes from a namespace through slirp4netns to 127.0.0.1 (root)
        The path must reach at least 10× the py-libp2p relay. Every missed target says by how
        much. Traffic goes only to 127.0.0.1 and to namespaces the bench makes; everything it
        starts or makes is removed at the end, on failure and on SIGINT too.

        Prints a table on stdout and progress on stderr. Takes under a minute; --quick a few
        seconds. Run it on a release build (`swift build -c release`) and as root: debug builds
        are many times slower, and without root the path, scale, veth and slirp phases are
        skipped (under CI=true a skip is a failure).

        options:
          --bytes SIZE       bytes per transfer (forwarder, veth, relay, path, slirp; default 1G,
                             at most 16G)
          --py-bytes SIZE    bytes through the py-libp2p relay (default 64M; it is slow)
          --latency N        connections per latency figure (default 1000)
          --scale N          concurrent connections in the scale phase (default 5000)
          --circuits N       idle circuits to open (default 1000)
          --connections N    idle plain connections to open (default 1000)
          --phases LIST      only these phases, comma-separated (names above); a target whose
                             baseline comes from a phase left out says `not checked`
          --quick            a short run for CI: 32M, 2M through py, 50 of each count
          --json FILE        also write the figures as JSON to FILE
          -h, --help         show this help

        exit status: 0 the run completed (targets met or not), 1 a step failed (the message
        says which, with the log of the process concerned), 64 usage error.

        example:
          swift build -c release && sudo .build/release/airlock bench --json bench.json
        """

    static let phases = ["ceiling", "forwarder", "veth", "relay", "path", "latency", "scale", "memory", "py", "slirp"]

    /// What one run measures.
    struct Settings {
        var bytes = 1 << 30
        var pyBytes = 64 << 20
        var latency = 1000
        var scale = 5000
        var circuits = 1000
        var connections = 1000
        /// CPU seconds per AEAD direction.
        var cipherSeconds = 1.0
        var quick = false
        var phases = Set(BenchCommand.phases)
        var json: String?
    }

    static let maxCount = 50_000

    static func run(_ args: [String]) throws -> Int32 {
        if args.first == "--probe" { return BenchAgentProbe.run(Array(args.dropFirst())) }
        let a = try Arguments(args, options: ["bytes", "py-bytes", "latency", "scale", "circuits", "connections", "phases", "json"],
                              flags: ["quick"])
        if a.wantsHelp { Output.out(help); return 0 }
        if let extra = CommandGroup.operands(a).first { throw Arguments.UsageError("unexpected argument \(extra)") }
        var s = Settings()
        if a.has("quick") {
            s = Settings(bytes: 32 << 20, pyBytes: 2 << 20, latency: 50, scale: 100, circuits: 50, connections: 50,
                         cipherSeconds: 0.2, quick: true)
        }
        s.bytes = try size(a, "bytes") ?? s.bytes
        s.pyBytes = try size(a, "py-bytes") ?? s.pyBytes
        s.latency = try count(a, "latency") ?? s.latency
        s.scale = try count(a, "scale") ?? s.scale
        s.circuits = try count(a, "circuits") ?? s.circuits
        s.connections = try count(a, "connections") ?? s.connections
        if let list = try a.value("phases") {
            let given = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if given.contains("") { throw Arguments.UsageError("--phases \(list): an empty name; write the phases separated by single commas") }
            if let bad = given.first(where: { !phases.contains($0) }) {
                throw Arguments.UsageError("--phases: unknown phase \(bad); the phases are \(phases.joined(separator: ", "))")
            }
            s.phases = Set(given)
        }
        s.json = try a.value("json")

        let report: BenchReport
        do { report = try BenchRun(s).measure() } catch {
            BenchCleanup.shared.waitIfInterrupted()
            throw error
        }
        Output.out(report.table())
        if let path = s.json {
            do { try BenchRelay.writeFile(path, report.json()) } catch { throw CommandFailure("\(error); check --json \(path)") }
            progress("wrote \(path)")
        }
        return 0
    }

    // MARK: helpers

    /// A progress line on stderr.
    static func progress(_ text: String) { CLI.printErr("bench: \(text)") }

    static func mib(_ bytes: Int) -> String { "\(bytes >> 20) MiB" }

    /// `1234`, `64K`, `256M`, `1G`, `1T` (binary multiples).
    static func parseSize(_ text: String) -> Int? {
        var digits = Substring(text)
        var shift = 0
        switch digits.last {
        case "K", "k": shift = 10
        case "M", "m": shift = 20
        case "G", "g": shift = 30
        case "T", "t": shift = 40
        default: break
        }
        if shift > 0 { digits = digits.dropLast() }
        guard let n = Int(digits), n >= 0, n <= (Int.max >> shift) else { return nil }
        return n << shift
    }

    private static func size(_ a: Arguments, _ name: String) throws(Arguments.UsageError) -> Int? {
        guard let b = try a.value(name) else { return nil }
        // At most 16G: a transfer through the slowest phase (py-libp2p, about 1 Gbit/s) then
        // still ends within minutes, so the bench stops by itself.
        guard let n = parseSize(b), n >= 1 << 20, n <= 16 << 30 else {
            throw Arguments.UsageError("--\(name) \(b): expected a size from 1M to 16G, e.g. 64M or 1G")
        }
        return n
    }

    private static func count(_ a: Arguments, _ name: String) throws(Arguments.UsageError) -> Int? {
        guard let v = try a.value(name) else { return nil }
        guard let n = Int(v), n >= 1, n <= maxCount else {
            throw Arguments.UsageError("--\(name) \(v): expected a whole number from 1 to \(maxCount)")
        }
        return n
    }

    /// This executable (the relay under test is the same binary).
    static func selfExecutable() throws -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { throw CommandFailure("bench: cannot find this executable (/proc/self/exe): \(Output.errnoText())") }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func kernelRelease() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
