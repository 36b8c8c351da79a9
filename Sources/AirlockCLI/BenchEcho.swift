import AirlockIO

/// The service the latency and scale phases reach through the relay: an echo server on
/// 127.0.0.1 on the bench's event loop, which holds any number of connections (5,000 in the
/// scale phase) on one thread. Each connection gets back what it sends; its FIN is answered
/// with a FIN.
///
/// **Thread:** the loop only (create, use and close it there).
final class BenchEcho {
    let listener: TCPListener
    private var connections: [ObjectIdentifier: TCPConnection] = [:]
    /// Connections open now.
    var open: Int { connections.count }

    init(loop: EventLoop) throws {
        do { listener = try TCPListener(on: .loopbackV4(port: 0), loop: loop) } catch {
            throw CommandFailure("bench: cannot listen for the echo service: \(error)")
        }
        listener.onAccept = { [unowned self] socket in
            guard let c = try? TCPConnection(socket: socket, loop: loop) else { return }
            let id = ObjectIdentifier(c)
            connections[id] = c
            c.onRead = { [unowned c] raw in c.write(raw) }
            c.onEOF = { [unowned c] in c.shutdownWrite() }
            c.onClose = { [unowned self] _ in connections[id] = nil }
        }
    }

    var address: SocketAddress { listener.address }

    func close() {
        listener.close()
        for c in connections.values { c.close() }
        connections.removeAll()
    }
}
