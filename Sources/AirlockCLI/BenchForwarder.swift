#if canImport(Glibc)
import Glibc
#endif
import AirlockIO

/// The floor's forwarding part: the plainest user-space TCP forwarder, `read` into one 64 KiB
/// buffer and `send` it on, on its own thread between two loopback connections, moving the same
/// bytes as the relay. A sender thread feeds it the pattern and a receiver thread checks it.
///
///     sender ──tcp──▶ [forwarder: read 64 KiB, send] ──tcp──▶ receiver (verifies)
///
/// Its CPU time (`CLOCK_THREAD_CPUTIME_ID` on the forwarder thread) is the cost of moving bytes
/// through user space with no protocol at all: two syscalls per chunk plus the kernel's copies.
enum BenchForwarder {
    struct Measurement: Sendable {
        var bytes: Int
        /// From the first read to EOF, on the forwarder thread.
        var wallSeconds: Double
        var cpuSeconds: Double
        var cpuSecondsPerGiB: Double { cpuSeconds * BenchReport.gib / Double(bytes) }
        var bitsPerSecond: Double { Double(bytes) * 8 / wallSeconds }
    }

    static let bufferSize = 64 * 1024

    static func measure(bytes: Int) throws -> Measurement {
        let (senderFD, inboundFD) = try loopbackPair()
        defer { close(senderFD); close(inboundFD) }
        let (outboundFD, receiverFD) = try loopbackPair()
        defer { close(outboundFD); close(receiverFD) }

        let sent = Box(0), received = Box(0), corrupt = Box(false)
        let wall = Box(0.0), cpu = Box(0.0)

        let receiver = try BenchThread(name: "bench-sink") {
            var buf = [UInt8](repeating: 0, count: bufferSize)
            buf.withUnsafeMutableBytes { b in
                while true {
                    let n = read(receiverFD, b.baseAddress, b.count)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    if !BenchPattern.matches(UnsafeRawBufferPointer(rebasing: b[0..<n]), offset: received.value) { corrupt.value = true }
                    received.value += n
                }
            }
        }
        let forwarder = try BenchThread(name: "bench-forward") {
            var buf = [UInt8](repeating: 0, count: bufferSize)
            let t0 = BenchProbe.wallSeconds(), c0 = BenchProbe.threadCPUSeconds()
            buf.withUnsafeMutableBytes { b in
                while true {
                    let n = read(inboundFD, b.baseAddress, b.count)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    guard sendAll(outboundFD, UnsafeRawBufferPointer(rebasing: b[0..<n])) else { break }
                }
            }
            shutdown(outboundFD, Int32(SHUT_WR))
            cpu.value = BenchProbe.threadCPUSeconds() - c0
            wall.value = BenchProbe.wallSeconds() - t0
        }
        let sender = try BenchThread(name: "bench-source") {
            while sent.value < bytes {
                let n = min(bufferSize, bytes - sent.value)
                guard BenchPattern.withWindow(offset: sent.value, count: n, { sendAll(senderFD, $0) }) else { break }
                sent.value += n
            }
            shutdown(senderFD, Int32(SHUT_WR))
        }
        sender.join()
        forwarder.join()
        receiver.join()
        guard received.value == bytes, !corrupt.value else {
            throw CommandFailure("bench: the forwarder delivered \(received.value) of \(bytes) bytes\(corrupt.value ? ", corrupted" : "")")
        }
        return Measurement(bytes: bytes, wallSeconds: wall.value, cpuSeconds: cpu.value)
    }

    /// Writes all of `bytes` to a blocking socket; false on an error.
    static func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    /// Two ends of one loopback TCP connection, both blocking: (connecting end, accepted end).
    static func loopbackPair() throws -> (Int32, Int32) {
        do {
            let listener = try Socket.listenTCP(on: .loopbackV4(port: 0), backlog: 1)
            defer { listener.close() }
            let address = try listener.localAddress()
            let (client, connected) = try Socket.connectTCP(to: address)
            if !connected { try waitFor(client.fd, POLLOUT) }
            try waitFor(listener.fd, POLLIN)
            guard let server = try listener.accept() else { throw CommandFailure("bench: loopback accept found nothing") }
            for fd in [client.fd, server.fd] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
            return (client.fd, server.fd)
        } catch let e as Errno {
            throw CommandFailure("bench: cannot make a loopback connection: \(e)")
        }
    }

    private static func waitFor(_ fd: Int32, _ events: Int32) throws {
        var p = pollfd(fd: fd, events: Int16(events), revents: 0)
        guard poll(&p, 1, 5000) == 1 else { throw CommandFailure("bench: loopback connection did not complete") }
    }

    /// A value shared by the bench threads; each is written by one thread and read after `join`.
    final class Box<T>: @unchecked Sendable {
        var value: T
        init(_ v: T) { value = v }
    }
}
