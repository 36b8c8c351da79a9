#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockIO

/// Serves `DNSStub` on one address (the shim's 127.0.0.1:53, which the agent's resolv.conf
/// names) over UDP and TCP: every query is answered REFUSED at once, anything else gets no
/// answer (a TCP client that sends something else is cut).
///
/// TCP messages carry a two-byte big-endian length (RFC 1035 §4.2.2); several may come on one
/// connection, split anywhere. Bounded throughout: `Limits.maxTCPClients` connections at once
/// (more are closed at accept), queries over TCP of at most `Limits.maxTCPMessage` bytes, a
/// connection that completes no query for `Limits.tcpIdleTimeout` is closed, and one that does
/// not read its answers is cut once `Limits.maxTCPOutput` bytes wait for it.
///
/// No allocation per query: datagrams land in one reused buffer, answers are written into
/// another; a TCP connection allocates a buffer once, for a query split across reads.
///
/// **Thread:** the loop's only; create and close it there.
public final class DNSStubServer {
    /// The server's bounds; the defaults suit one agent's resolver.
    public struct Limits: Sendable {
        /// TCP connections at once.
        public var maxTCPClients = 8
        /// A TCP connection is closed after this long without a complete query.
        public var tcpIdleTimeout: Duration = .seconds(10)
        /// The longest query taken over TCP (a real one is well under 600 bytes, EDNS padding
        /// included); a longer length prefix cuts the connection.
        public var maxTCPMessage = 4096
        /// Answers queued for a TCP client that does not read them before it is cut.
        public var maxTCPOutput = 16 * 1024
        /// Datagrams taken per readiness event before yielding to the rest of the loop.
        public var maxDatagramsPerEvent = 64
        public init() {}
    }

    public let loop: EventLoop
    /// The bound address (with the real port when port 0 was asked for).
    public let address: SocketAddress
    public let limits: Limits
    let logger: Logger

    /// Queries answered, messages ignored (not queries), TCP connections refused at the cap.
    public private(set) var answered = 0
    public private(set) var ignored = 0
    public private(set) var tcpRefused = 0
    public var tcpClients: Int { clients.count }

    private let udp: Socket
    private let listener: TCPListener
    private var clients: [ObjectIdentifier: DNSStubTCPClient] = [:]
    private var closed = false
    /// A datagram as received (larger ones are cut; the question is at the start).
    private let datagram: UnsafeMutableRawBufferPointer
    /// An answer: two bytes for the TCP length, then the message.
    let answer: UnsafeMutableRawBufferPointer

    /// Binds UDP and then TCP on `address` (both or neither; with port 0, TCP takes the port
    /// UDP got) and starts serving.
    public init(on address: SocketAddress, loop: EventLoop, limits: Limits = Limits(), logger: Logger) throws(Errno) {
        self.loop = loop
        self.limits = limits
        self.logger = logger
        let udp = try Socket.bindUDP(on: address)
        let listener: TCPListener
        do throws(Errno) {
            let bound = try udp.localAddress()
            listener = try TCPListener(on: bound, loop: loop, backlog: 64)
            self.address = bound
        } catch {
            udp.close()
            throw error
        }
        self.udp = udp
        self.listener = listener
        datagram = .allocate(byteCount: 4096, alignment: 8)
        answer = .allocate(byteCount: 2 + DNSStub.maxResponseSize, alignment: 8)
        do throws(Errno) {
            try loop.register(udp.fd, interest: .read) { [unowned self] _ in readDatagrams() }
        } catch {
            // Fully initialised: deinit runs and frees the buffers.
            closed = true
            udp.close()
            listener.close()
            throw error
        }
        listener.onAccept = { [unowned self] socket in accepted(socket) }
    }

    /// The owner calls `close()` on the loop before letting go (deregistering is the loop's).
    deinit {
        close()
        datagram.deallocate()
        answer.deallocate()
    }

    /// Stops serving: closes both sockets and every TCP connection.
    public func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(udp.fd)
        udp.close()
        listener.close()
        // Each leaves `clients` from its connection's onClose.
        for c in clients.values { c.close() }
    }

    // MARK: UDP

    /// Edge-triggered: takes datagrams until none is left, or yields after a batch.
    private func readDatagrams() {
        var taken = 0
        while !closed {
            if taken == limits.maxDatagramsPerEvent {
                loop.runSoon { [weak self] in self?.readDatagrams() }
                return
            }
            let got: (count: Int, from: SocketAddress)?
            do throws(Errno) { got = try udp.receive(into: datagram) } catch {
                // ECONNREFUSED and the like: an ICMP error for an earlier answer. Keep reading.
                taken += 1
                continue
            }
            guard let got else { return }
            taken += 1
            let body = UnsafeMutableRawBufferPointer(rebasing: answer[2...])
            guard let n = DNSStub.writeRefused(to: UnsafeRawBufferPointer(rebasing: datagram[..<got.count]), into: body) else {
                ignored += 1
                continue
            }
            answered += 1
            // A full send buffer drops the answer; the resolver asks again.
            _ = try? udp.send(UnsafeRawBufferPointer(rebasing: body[..<n]), to: got.from)
        }
    }

    // MARK: TCP

    private func accepted(_ socket: Socket) {
        guard !closed, clients.count < limits.maxTCPClients else {
            tcpRefused += 1
            logger.info("dns_tcp_refused", ["reason": "overloaded", "clients": clients.count])
            socket.close()
            return
        }
        let tcp: TCPConnection
        do { tcp = try TCPConnection(socket: socket, loop: loop) } catch { return }
        let client = DNSStubTCPClient(tcp: tcp, server: self)
        clients[ObjectIdentifier(client)] = client
        client.start()
    }

    /// Answers one framed query from a TCP client into `answer`; the bytes to send (length
    /// prefix included), valid until the next call, or `nil` when `message` is no query.
    func tcpAnswer(to message: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let body = UnsafeMutableRawBufferPointer(rebasing: answer[2...])
        guard let n = DNSStub.writeRefused(to: message, into: body) else {
            ignored += 1
            return nil
        }
        answered += 1
        answer[0] = UInt8(n >> 8); answer[1] = UInt8(n & 0xFF)
        return UnsafeRawBufferPointer(rebasing: answer[..<(2 + n)])
    }

    func clientEnded(_ c: DNSStubTCPClient) {
        clients[ObjectIdentifier(c)] = nil
    }
}
