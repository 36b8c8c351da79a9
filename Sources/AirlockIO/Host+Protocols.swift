import AirlockCore
import AirlockCrypto
import AirlockWire

/// The protocols every host serves: identify (wire.md §7) and ping.
extension Host {
    /// Answers `/ipfs/id/1.0.0` with one Identify message, then half-closes.
    func serveIdentify(_ s: Libp2pStream) {
        var observed: Multiaddr? = nil
        if let a = s.connection.remoteAddress, let ip = IPAddress(a.ipString) {
            observed = Multiaddr(ip: ip, tcpPort: a.port)
        }
        let msg = IdentifyMessage(publicKey: identity.publicKey.protobuf, listenAddrs: listenAddrs,
                                  protocols: supportedProtocols.sorted(), observedAddr: observed,
                                  protocolVersion: "ipfs/0.1.0", agentVersion: agentVersion)
        s.send(msg.framed())
        s.closeWrite()
        // Whatever the asker sends back is ignored; the stream ends when both sides closed.
        s.onReadable = { [unowned s] in _ = s.take() }
    }

    /// Echoes each 32-byte ping payload (`/ipfs/ping/1.0.0`), on the same stream, until FIN.
    static func servePing(_ s: Libp2pStream) {
        s.onReadable = { [unowned s] in
            while s.inbox.readableBytes >= 32 { s.send(s.take(max: 32)) }
        }
        s.onRemoteClose = { [unowned s] in s.closeWrite() }
    }

    /// Pings `connection` once; the completion gets the round trip in seconds.
    public func ping(_ connection: Libp2pConnection, _ completion: @escaping (Result<Double, StreamError>) -> Void) {
        connection.openStream(ProtocolID.ping) { result in
            switch result {
            case .failure(let e): completion(.failure(e))
            case .success(let s):
                let payload = Sodium.randomBytes(count: 32)
                let start = MonotonicTime.now()
                s.send(payload)
                s.onReadable = { [unowned s] in
                    guard s.inbox.readableBytes >= 32 else { return }
                    let echo = s.take(max: 32)
                    let rtt = Double(start.nanoseconds(until: .now())) / 1e9
                    s.closeWrite()
                    completion(echo == payload ? .success(rtt) : .failure(StreamError("ping answer did not match")))
                }
                s.onEnd = { how in if how != .closed { completion(.failure(StreamError("ping stream ended: \(how)"))) } }
            }
        }
    }
}
