#if canImport(Glibc)
import Glibc
#endif
import AirlockIO

/// `airlock bench --probe MODE …`: the program the bench runs *inside* an agent namespace
/// (through `airlock run --forward`), as an unprivileged agent. Plain blocking sockets to the
/// shim's forward on 127.0.0.1, nothing else; each mode prints one JSON line on stdout and exits
/// 0, or prints `error: …` on stderr and exits 1. Not listed in `airlock bench --help`: only the
/// bench starts it.
///
/// * `stream --port P --bytes N`: connect, wait for the sink's go byte, send N pattern bytes,
///   half-close, wait for the sink's acknowledgement (it checked every byte) and EOF.
/// * `latency --port P --count N`: one warm-up connection (it builds the shim's circuit to the
///   service), then N connections one after another, each timed from `connect` to the first
///   byte of the echo of a 1-byte request, then closed.
/// * `hold --port P --count N --size S`: one connection that echoes S bytes, then `circuit` on
///   stdout; after one byte on stdin, N-1 more (each echoes S bytes), then `held N`; all stay
///   open until stdin ends.
enum BenchAgentProbe {
    static func run(_ args: [String]) -> Int32 {
        // A sink or echo that went away must fail a write, not end the probe silently.
        signal(SIGPIPE, SIG_IGN)
        do {
            let a = try Arguments(args, options: ["port", "bytes", "count", "size"])
            guard let mode = a.positionals.first else { throw CommandFailure("probe: no mode") }
            guard let port = try a.value("port").flatMap({ UInt16($0) }) else { throw CommandFailure("probe: --port missing") }
            let count = try a.value("count").flatMap { Int($0) } ?? 1
            switch mode {
            case "stream":
                guard let bytes = try a.value("bytes").flatMap({ Int($0) }) else { throw CommandFailure("probe: --bytes missing") }
                try stream(port: port, bytes: bytes)
            case "latency": try latency(port: port, count: count)
            case "hold": try hold(port: port, count: count, size: try a.value("size").flatMap { Int($0) } ?? 64)
            default: throw CommandFailure("probe: unknown mode \(mode)")
            }
            return 0
        } catch {
            CLI.printErr("error: \(error)")
            return 1
        }
    }

    static let loopback: UInt32 = 0x7f00_0001

    static func connect(_ port: UInt16) throws -> Int32 {
        let fd = try BenchSendReceive.socket()
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        do { try BenchSendReceive.connect(fd, ip: loopback, port: port) } catch { close(fd); throw error }
        return fd
    }

    /// Reads exactly `count` bytes; throws on EOF, error or the socket's timeout.
    static func readExactly(_ fd: Int32, _ count: Int) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CommandFailure("probe: connection ended after \(got) of \(count) bytes (\(n < 0 ? Output.errnoText() : "EOF"))") }
            got += n
        }
        return buf
    }

    static func say(_ line: String) {
        _ = Output.writeAll(1, Array((line + "\n").utf8))
    }

    // MARK: modes

    static func stream(port: UInt16, bytes: Int) throws {
        let fd = try connect(port)
        defer { close(fd) }
        _ = try readExactly(fd, 1)
        let t0 = BenchProbe.wallSeconds(), c0 = BenchProbe.threadCPUSeconds()
        guard BenchSendReceive.sendPattern(fd, bytes: bytes) else { throw CommandFailure("probe: send failed: \(Output.errnoText())") }
        shutdown(fd, Int32(SHUT_WR))
        let ack = try readExactly(fd, 1)
        let wall = BenchProbe.wallSeconds() - t0, cpu = BenchProbe.threadCPUSeconds() - c0
        guard ack == [UInt8(ascii: "k")] else { throw CommandFailure("probe: the sink did not acknowledge the bytes") }
        say("{\"mode\": \"stream\", \"bytes\": \(bytes), \"seconds\": \(wall), \"cpu_s\": \(cpu)}")
    }

    static func latency(port: UInt16, count: Int) throws {
        let warm = try once(port)
        var samples: [Int] = []
        samples.reserveCapacity(count)
        for _ in 0..<count { samples.append(try once(port)) }
        say("{\"mode\": \"latency\", \"warmup_us\": \(warm), \"us\": [\(samples.map(String.init).joined(separator: ","))]}")
    }

    /// One timed connection: connect, 1 byte out, its echo back; microseconds.
    static func once(_ port: UInt16) throws -> Int {
        let t0 = BenchProbe.wallSeconds()
        let fd = try connect(port)
        defer { close(fd) }
        guard Output.writeAll(fd, [0x2a]) else { throw CommandFailure("probe: write failed: \(Output.errnoText())") }
        _ = try readExactly(fd, 1)
        return Int(((BenchProbe.wallSeconds() - t0) * 1e6).rounded())
    }

    static func hold(port: UInt16, count: Int, size: Int) throws {
        _ = try? raiseOpenFileLimit()
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        let payload = [UInt8](repeating: 0x61, count: size)
        func open() throws {
            let fd = try connect(port)
            fds.append(fd)
            guard Output.writeAll(fd, payload) else { throw CommandFailure("probe: write failed: \(Output.errnoText())") }
            guard try readExactly(fd, size) == payload else { throw CommandFailure("probe: the echo differs") }
        }
        try open()
        say("circuit")
        var byte: UInt8 = 0
        guard read(0, &byte, 1) == 1 else { return }
        let t0 = BenchProbe.wallSeconds()
        while fds.count < count { try open() }
        say("held \(fds.count) in \(BenchProbe.wallSeconds() - t0) s")
        while read(0, &byte, 1) > 0 {}
        say("{\"mode\": \"hold\", \"connections\": \(fds.count)}")
    }
}
