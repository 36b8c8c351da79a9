import AirlockCore
import AirlockIO

/// What a shim serves and where it reaches the relay (`airlock shim` flags, design.md §4).
public struct ShimConfig: Sendable {
    /// A port forward: connections to `listen` go straight to `service`, with no proxy handshake.
    public struct Forward: Sendable, Equatable {
        public var listen: SocketAddress
        public var service: String
        public init(listen: SocketAddress, service: String) {
            self.listen = listen
            self.service = service
        }
    }

    /// An exit the agent may ask for outside destinations: the relay's own (`peer` nil) or an
    /// exit peer reached through a circuit.
    public struct Exit: Sendable, Equatable {
        public var name: String
        public var peer: PeerID?
        public init(name: String, peer: PeerID?) {
            self.name = name
            self.peer = peer
        }
    }

    /// The relay's address (inside an agent namespace: the hub side of its link) and identity.
    public var relay: SocketAddress
    public var relayPeer: PeerID
    /// The SOCKS5 listener (`ALL_PROXY=socks5h://127.0.0.1:1080`); nil for none. Port 0 picks one.
    public var socks: SocketAddress? = .loopbackV4(port: 1080)
    /// The HTTP proxy listener (`HTTP_PROXY=http://127.0.0.1:3128`); nil for none.
    public var http: SocketAddress? = .loopbackV4(port: 3128)
    /// The DNS stub (`DNSStubServer`, UDP and TCP), which the agent's resolv.conf names: it
    /// answers every query REFUSED at once; nil for none. Port 53 needs the namespace's
    /// `ip_unprivileged_port_start` at 53 or below, which the hub sets.
    public var dns: SocketAddress? = .loopbackV4(port: 53)
    /// Service names (lowercase, as `ProxyTarget` canonicalises hosts) and their peers.
    public var services: [String: PeerID] = [:]
    public var forwards: [Forward] = []
    /// Exits, tried in this order for every target that is not a service (the next one only
    /// when one refuses by policy). Empty: such targets are refused as `unknown-service`.
    public var exits: [Exit] = []
    /// Seconds an exit has to answer a request (it decides, resolves and connects meanwhile).
    public var exitTimeout: Double = 30
    /// Agent connections handled at once (handshaking, waiting or bridged); more are closed
    /// at accept (design.md §2 invariant 9: everything is bounded).
    public var maxClients = 1024
    /// Seconds a client has to complete its proxy handshake.
    public var handshakeTimeout: Double = 10

    public init(relay: SocketAddress, relayPeer: PeerID) {
        self.relay = relay
        self.relayPeer = relayPeer
    }

    /// Why a `--service` or `--forward` value was refused.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// Checks a service name and returns its canonical (lowercase) form: it must be usable as a
    /// host name, since agents reach it as `http://NAME/` or `NAME:PORT`.
    public static func serviceName(_ text: Substring) throws(ParseError) -> String {
        guard let canonical = ProxyTarget.canonicalHost(text.utf8), IPAddress(canonical) == nil else {
            throw ParseError("service name \"\(text)\" is not a host name (letters, digits, -, _ and .)")
        }
        return canonical
    }

    /// Parses `NAME=PEERID`.
    public static func parseService(_ text: String) throws(ParseError) -> (name: String, peer: PeerID) {
        guard let eq = text.firstIndex(of: "=") else { throw ParseError("--service \(text): expected NAME=PEERID") }
        let name = try serviceName(text[..<eq])
        let peer: PeerID
        do { peer = try PeerID(String(text[text.index(after: eq)...])) } catch {
            throw ParseError("--service \(text): the peer ID does not parse: \(error)")
        }
        return (name, peer)
    }

    /// Parses `NAME=relay` (the relay's own exit) or `NAME=PEERID` (an exit peer).
    public static func parseExit(_ text: String) throws(ParseError) -> Exit {
        guard let eq = text.firstIndex(of: "=") else { throw ParseError("--exit \(text): expected NAME=relay or NAME=PEERID") }
        let name = String(text[..<eq])
        let rest = String(text[text.index(after: eq)...])
        guard !name.isEmpty else { throw ParseError("--exit \(text): the exit NAME is missing") }
        if rest == "relay" { return Exit(name: name, peer: nil) }
        do { return Exit(name: name, peer: try PeerID(rest)) } catch {
            throw ParseError("--exit \(text): expected relay or a peer ID after '=': \(error)")
        }
    }

    /// Parses `PORT=NAME` (listening on 127.0.0.1:PORT) or `IP:PORT=NAME`.
    public static func parseForward(_ text: String) throws(ParseError) -> Forward {
        guard let eq = text.lastIndex(of: "=") else { throw ParseError("--forward \(text): expected PORT=SERVICE") }
        let where_ = String(text[..<eq])
        let name = try serviceName(text[text.index(after: eq)...])
        let listen: SocketAddress
        if let port = ProxyTarget.parsePort(Substring(where_)) {
            listen = .loopbackV4(port: port)
        } else if let a = SocketAddress(where_), a.port != 0 {
            listen = a
        } else {
            throw ParseError("--forward \(text): expected PORT=SERVICE with PORT 1-65535 (or IP:PORT=SERVICE)")
        }
        return Forward(listen: listen, service: name)
    }
}
