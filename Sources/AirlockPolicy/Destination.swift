/// One `host:port` entry of an exit rule: a `HostPattern` and a `PortRange`, both always present.
///
/// Text forms: `api.github.com:443`, `*.pypi.org:443`, `10.0.0.5:22`, `10.0.0.0/8:8000-8080`,
/// `[2001:db8::1]:443`, `[2001:db8::/32]:443`.
public struct Destination: Hashable, Sendable, CustomStringConvertible {
    public let host: HostPattern
    public let ports: PortRange

    public init(host: HostPattern, ports: PortRange) {
        self.host = host
        self.ports = ports
    }

    /// Parses `HOST:PORT` (IPv6 in brackets), or says what is wrong.
    public static func parse(_ text: String) -> Result<Destination, PatternError> {
        let text = Substring(text)
        let hostText: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(PatternError("'[' is not closed by ']'")) }
            hostText = text[...close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else {
                return .failure(PatternError("missing port after ']'; every destination names its port, as in [2001:db8::1]:443"))
            }
            portText = rest.dropFirst()
        } else {
            let colons = text.reduce(0) { $1 == ":" ? $0 + 1 : $0 }
            if colons == 0 { return .failure(PatternError("missing port; every destination names its port, as in example.com:443")) }
            if colons > 1 { return .failure(PatternError("IPv6 addresses must be in brackets, as in [2001:db8::1]:443")) }
            let colon = text.firstIndex(of: ":")!
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        let host: HostPattern
        switch HostPattern.parse(hostText) {
        case .success(let h): host = h
        case .failure(let e): return .failure(e)
        }
        return PortRange.parse(portText).map { Destination(host: host, ports: $0) }
    }

    public func matches(host: NormalisedHost, port: UInt16) -> Bool { ports.contains(port) && self.host.matches(host) }

    public var description: String { "\(host):\(ports)" }
}
