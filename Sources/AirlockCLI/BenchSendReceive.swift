#if canImport(Glibc)
import Glibc
#endif

/// One plain TCP transfer between two blocking sockets the caller connected: a sender thread
/// writes `bytes` of the pattern in 64 KiB writes and half-closes, a receiver thread reads into
/// one 64 KiB buffer and checks every byte. Both threads' CPU time is measured, so the cost of
/// one TCP hop (send plus receive, user and kernel) comes out per GiB.
enum BenchSendReceive {
    struct Measurement: Sendable {
        var bytes: Int
        /// From the sender's first write to the receiver's EOF.
        var wallSeconds: Double
        var senderCPU: Double
        var receiverCPU: Double
        var bitsPerSecond: Double { Double(bytes) * 8 / wallSeconds }
        /// Sender and receiver together: one hop.
        var hopSecondsPerGiB: Double { (senderCPU + receiverCPU) * BenchReport.gib / Double(bytes) }
    }

    /// Sends over `senderFD`, receives on `receiverFD`; closes neither.
    static func run(senderFD: Int32, receiverFD: Int32, bytes: Int, what: String) throws -> Measurement {
        let received = BenchForwarder.Box(0), corrupt = BenchForwarder.Box(false)
        let start = BenchForwarder.Box(0.0), end = BenchForwarder.Box(0.0)
        let sendCPU = BenchForwarder.Box(0.0), receiveCPU = BenchForwarder.Box(0.0)
        let receiver = try BenchThread(name: "bench-receive") {
            let c0 = BenchProbe.threadCPUSeconds()
            receiveAll(receiverFD, received: received, corrupt: corrupt)
            end.value = BenchProbe.wallSeconds()
            receiveCPU.value = BenchProbe.threadCPUSeconds() - c0
        }
        let sender = try BenchThread(name: "bench-send") {
            let c0 = BenchProbe.threadCPUSeconds()
            start.value = BenchProbe.wallSeconds()
            _ = sendPattern(senderFD, bytes: bytes)
            shutdown(senderFD, Int32(SHUT_WR))
            sendCPU.value = BenchProbe.threadCPUSeconds() - c0
        }
        sender.join()
        receiver.join()
        guard received.value == bytes, !corrupt.value else {
            throw CommandFailure("bench: \(what) delivered \(received.value) of \(bytes) bytes\(corrupt.value ? ", corrupted" : "")")
        }
        return Measurement(bytes: bytes, wallSeconds: end.value - start.value, senderCPU: sendCPU.value, receiverCPU: receiveCPU.value)
    }

    /// Writes `bytes` of the pattern from offset 0; false on an error.
    static func sendPattern(_ fd: Int32, bytes: Int, chunk: Int = BenchForwarder.bufferSize) -> Bool {
        var sent = 0
        while sent < bytes {
            let n = min(chunk, bytes - sent)
            guard BenchPattern.withWindow(offset: sent, count: n, { BenchForwarder.sendAll(fd, $0) }) else { return false }
            sent += n
        }
        return true
    }

    /// Reads until EOF or an error, checking against the pattern.
    static func receiveAll(_ fd: Int32, received: BenchForwarder.Box<Int>, corrupt: BenchForwarder.Box<Bool>) {
        var buf = [UInt8](repeating: 0, count: BenchForwarder.bufferSize)
        buf.withUnsafeMutableBytes { b in
            while true {
                let n = read(fd, b.baseAddress, b.count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                if !BenchPattern.matches(UnsafeRawBufferPointer(rebasing: b[0..<n]), offset: received.value) { corrupt.value = true }
                received.value += n
            }
        }
    }

    /// A blocking IPv4 TCP socket, close-on-exec, with 30 s send and receive timeouts so a
    /// stuck peer cannot hang the bench.
    static func socket() throws -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CommandFailure("bench: socket: \(Output.errnoText())") }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func sockaddr(_ ip: UInt32, _ port: UInt16) -> sockaddr_in {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr.s_addr = ip.bigEndian
        return sin
    }

    /// Binds `fd` to `ip` port 0 and listens; returns the port.
    static func listen(_ fd: Int32, ip: UInt32) throws -> UInt16 {
        var sin = sockaddr(ip, 0)
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0, Glibc.listen(fd, 16) == 0 else { throw CommandFailure("bench: bind/listen: \(Output.errnoText())") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return UInt16(bigEndian: sin.sin_port)
    }

    static func connect(_ fd: Int32, ip: UInt32, port: UInt16) throws {
        var sin = sockaddr(ip, port)
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw CommandFailure("bench: connect to port \(port): \(Output.errnoText())") }
    }

    /// Accepts one connection, waiting at most `timeout` seconds.
    static func accept(_ listener: Int32, timeout: Double) throws -> Int32 {
        var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { throw CommandFailure("bench: no connection came within \(Int(timeout)) s") }
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { throw CommandFailure("bench: accept: \(Output.errnoText())") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }
}

extension BenchSendReceive {
    static func localPort(_ fd: Int32) throws -> UInt16 {
        var sin = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { throw CommandFailure("bench: getsockname: \(Output.errnoText())") }
        return UInt16(bigEndian: sin.sin_port)
    }
}
