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
        usage: airlock bench [--bytes SIZE] [--circuits N] [--connections N] [--quick] [--json FILE]

        Measures, on this machine and over 127.0.0.1 only:
          1. the ceiling: ChaCha20-Poly1305 encrypt and decrypt on one core (64 KiB frames);
          2. the floor: a plain user-space TCP forwarder moving the same bytes (CPU per GiB),
             plus two AEAD passes;
          3. the relay, run as a child process (`airlock relay`): one stream of SIZE bytes from a
             client peer through the relay to a service peer, checked at the far end; the
             relay's CPU per GiB against the floor (target: at most 1.5×);
          4. the relay's memory per idle circuit (target: under 64 KiB) and per idle
             connection (target: under 32 KiB).
        Prints a table on stdout and progress on stderr. Takes about a minute; --quick a few
        seconds. Run it on a release build (`swift build -c release`): debug builds are many
        times slower.

        options:
          --bytes SIZE       bytes to send through the relay, e.g. 1G, 256M (default 1G)
          --circuits N       idle circuits to open (default 1000)
          --connections N    idle plain connections to open (default 1000)
          --quick            a short run for CI: 64M, 50 circuits, 50 connections
          --json FILE        also write the figures as JSON to FILE
          -h, --help         show this help

        exit status: 0 the run completed (targets met or not), 1 a step failed (the message
        says which, with the relay's log), 64 usage error.

        example:
          swift build -c release && .build/release/airlock bench --json bench.json
        """

    /// What one run measures.
    struct Settings {
        var bytes = 1 << 30
        var circuits = 1000
        var connections = 1000
        /// CPU seconds per AEAD direction.
        var cipherSeconds = 1.0
        var quick = false
        var json: String?
    }

    static let maxCount = 50_000

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["bytes", "circuits", "connections", "json"], flags: ["quick"])
        if a.wantsHelp { Output.out(help); return 0 }
        if let extra = CommandGroup.operands(a).first { throw Arguments.UsageError("unexpected argument \(extra)") }
        var s = Settings()
        if a.has("quick") {
            s = Settings(bytes: 64 << 20, circuits: 50, connections: 50, cipherSeconds: 0.2, quick: true)
        }
        if let b = try a.value("bytes") {
            guard let n = parseSize(b), n >= 1 << 20, n <= 1 << 40 else {
                throw Arguments.UsageError("--bytes \(b): expected a size from 1M to 1T, e.g. 64M or 1G")
            }
            s.bytes = n
        }
        s.circuits = try count(a, "circuits") ?? s.circuits
        s.connections = try count(a, "connections") ?? s.connections
        s.json = try a.value("json")

        let report = try measure(s)
        Output.out(report.table())
        if let path = s.json {
            do { try BenchRelay.writeFile(path, report.json()) } catch { throw CommandFailure("\(error); check --json \(path)") }
            progress("wrote \(path)")
        }
        return 0
    }

    // MARK: the run

    static func measure(_ s: Settings) throws -> BenchReport {
        _ = try? raiseOpenFileLimit()
        let binary = try selfExecutable()
        let dir = try BenchTempDir()
        let loopThread: EventLoopThread
        do { loopThread = try EventLoopThread(name: "bench-peers") } catch { throw CommandFailure("bench: cannot start the event loop: \(error)") }
        defer { loopThread.stopAndJoin() }

        var report = BenchReport()
        report.machine = [("cores", "\(BenchProbe.cores)"), ("cpu", BenchProbe.cpuModel), ("kernel", kernelRelease())]
        report.parameters = [("bytes", "\(s.bytes)"), ("circuits", "\(s.circuits)"), ("connections", "\(s.connections)"),
                             ("quick", s.quick ? "true" : "false")]

        progress("1/5 ceiling: ChaCha20-Poly1305 on one core, \(s.cipherSeconds) s per direction")
        let cipher = try BenchCipher.measure(seconds: s.cipherSeconds)
        let aeadPasses = cipher.encryptSecondsPerGiB + cipher.decryptSecondsPerGiB
        report.add(.init(key: "aead_encrypt", label: "AEAD encrypt, 1 core", value: cipher.encryptBytesPerSecond / 1e9, unit: "GB/s"))
        report.add(.init(key: "aead_decrypt", label: "AEAD decrypt, 1 core", value: cipher.decryptBytesPerSecond / 1e9, unit: "GB/s"))
        report.add(.init(key: "aead_two_passes", label: "AEAD encrypt + decrypt CPU", value: aeadPasses, unit: "s/GiB"))

        progress("2/5 floor: plain TCP forwarder, \(mib(s.bytes))")
        let forwarder = try BenchForwarder.measure(bytes: s.bytes)
        let floor = aeadPasses + forwarder.cpuSecondsPerGiB
        report.add(.init(key: "forwarder_throughput", label: "plain forwarder throughput", value: forwarder.bitsPerSecond / 1e9, unit: "Gbit/s"))
        report.add(.init(key: "forwarder_cpu", label: "plain forwarder CPU", value: forwarder.cpuSecondsPerGiB, unit: "s/GiB"))
        report.add(.init(key: "floor_cpu", label: "floor: 2 AEAD passes + forwarder", value: floor, unit: "s/GiB"))

        progress("3/5 relay: \(mib(s.bytes)) through a relay child process")
        let transfer = try BenchTransfer.run(binary: binary, dir: dir.path, loop: loopThread.loop, bytes: s.bytes)
        report.add(.init(key: "relay_throughput", label: "relay throughput, 1 stream", value: transfer.bitsPerSecond / 1e9, unit: "Gbit/s",
                         baseline: forwarder.bitsPerSecond / 1e9, baselineLabel: "forwarder"))
        report.add(.init(key: "relay_cpu", label: "relay CPU", value: transfer.relaySecondsPerGiB, unit: "s/GiB",
                         baseline: floor, baselineLabel: "floor", maxRatio: 1.5))

        progress("4/5 memory: \(s.connections) idle connections to a fresh relay")
        let perConnection = try BenchIdle.connections(binary: binary, dir: dir.path, loop: loopThread.loop, count: s.connections)
        progress("5/5 memory: \(s.circuits) idle circuits through a fresh relay")
        let perCircuit = try BenchIdle.circuits(binary: binary, dir: dir.path, loop: loopThread.loop, count: s.circuits)
        report.add(.init(key: "idle_circuit_memory", label: "relay memory per idle circuit", value: perCircuit.kibPerItem, unit: "KiB",
                         maxValue: 64))
        report.add(.init(key: "idle_connection_memory", label: "relay memory per idle connection", value: perConnection.kibPerItem, unit: "KiB",
                         maxValue: 32))

        report.details = [
            ("aead_encrypt_s_per_gib", cipher.encryptSecondsPerGiB),
            ("aead_decrypt_s_per_gib", cipher.decryptSecondsPerGiB),
            ("forwarder_wall_s", forwarder.wallSeconds),
            ("relay_wall_s", transfer.wallSeconds),
            ("relay_user_s_per_gib", transfer.relayUserSecondsPerGiB),
            ("relay_system_s_per_gib", transfer.relaySystemSecondsPerGiB),
            // Both peers run in this process on one thread, with two Noise layers each (their
            // connection to the relay, and the relayed connection inside it): four AEAD passes.
            ("peers_cpu_s_per_gib", transfer.peersSecondsPerGiB),
            // What one core of relay could forward at the measured CPU cost per byte.
            ("relay_one_core_gbit_s", 8 * BenchReport.gib / transfer.relaySecondsPerGiB / 1e9),
            ("relay_rss_kib_before_circuits", Double(perCircuit.beforeKiB)),
            ("relay_rss_kib_after_circuits", Double(perCircuit.afterKiB)),
            ("relay_rss_kib_before_connections", Double(perConnection.beforeKiB)),
            ("relay_rss_kib_after_connections", Double(perConnection.afterKiB)),
        ]
        return report
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
