import AirlockRelay
import AirlockWire

/// Why the shim could not give an agent's connection a stream, and how each proxy says so.
///
/// `reason` is a stable token (the `X-Airlock-Reason` header value, the `reason=` log field) so
/// tools and tests can match it; `detail` says more, for the log only (it may name peers).
public struct ShimRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The target names no service this shim knows, and there is no exit to ask: 403 / SOCKS 0x02.
        case unknownService
        /// The relay refused the circuit (PERMISSION_DENIED, wire.md §5.3), or an exit refused the
        /// destination by policy: 403 / SOCKS 0x02.
        case deniedByPolicy
        /// The service holds no reservation now (NO_RESERVATION): 502 / SOCKS 0x04.
        case serviceOffline
        /// There is no connection to the relay now (it is being re-dialled): 502 / SOCKS 0x04.
        case relayUnavailable
        /// The circuit or its handshake failed, or the relay refused for another reason:
        /// 502 / SOCKS 0x04.
        case circuitFailed
        /// The service did not accept a `/airlock/tcp/1.0.0` stream: 502 / SOCKS 0x05.
        case streamRefused
        /// Too many agent connections at once: 502 / SOCKS 0x01.
        case overloaded
        /// The exit refused an address the name resolved to (loopback, private, …): 403 / SOCKS 0x02.
        case blockedAddress
        /// The exit could not resolve the name: 502 / SOCKS 0x04.
        case unresolved
        /// The exit could not connect to the destination: 502 / SOCKS 0x05.
        case connectFailed
        /// The exit could not serve the request (overloaded, no policy answer, bad answer): 502 / SOCKS 0x01.
        case exitUnavailable
    }

    public let kind: Kind
    public let detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The stable token for this kind.
    public var reason: String {
        switch kind {
        case .unknownService: "unknown-service"
        case .deniedByPolicy: "denied-by-policy"
        case .serviceOffline: "service-offline"
        case .relayUnavailable: "relay-unavailable"
        case .circuitFailed: "circuit-failed"
        case .streamRefused: "stream-refused"
        case .overloaded: "overloaded"
        case .blockedAddress: "blocked-address"
        case .unresolved: "unresolved"
        case .connectFailed: "connect-failed"
        case .exitUnavailable: "exit-unavailable"
        }
    }

    public var description: String { "\(reason): \(detail)" }

    /// The complete HTTP response (403 for refusals by name or policy, 502 otherwise).
    public var httpResponse: [UInt8] {
        switch kind {
        case .unknownService, .deniedByPolicy, .blockedAddress: HTTPProxyResponse.forbidden(reason: reason)
        default: HTTPProxyResponse.badGateway(reason: reason)
        }
    }

    /// The SOCKS5 reply code (RFC 1928 §6).
    public var socksReply: Socks5Reply {
        switch kind {
        case .unknownService, .deniedByPolicy, .blockedAddress: .notAllowed
        case .serviceOffline, .relayUnavailable, .circuitFailed, .unresolved: .hostUnreachable
        case .streamRefused, .connectFailed: .connectionRefused
        case .overloaded, .exitUnavailable: .generalFailure
        }
    }

    /// Maps an exit's refusal; `detail` carries the exit's own reason and text.
    static func exit(_ name: String, _ r: ExitResponse) -> ShimRefusal {
        let detail = "exit \(name): \(r.status) \(r.reason)\(r.text.isEmpty ? "" : ": \(r.text)")"
        switch r.status {
        case .denied: return ShimRefusal(.deniedByPolicy, detail)
        case .blocked: return ShimRefusal(.blockedAddress, detail)
        case .unresolved: return ShimRefusal(.unresolved, detail)
        case .connectFailed: return ShimRefusal(.connectFailed, detail)
        case .ok, .unavailable, .malformed: return ShimRefusal(.exitUnavailable, detail)
        }
    }

    /// Maps a failed `RelayClient.connect` by the relay's status.
    static func circuit(_ error: RelayClientError) -> ShimRefusal {
        switch error.status {
        case .permissionDenied?: ShimRefusal(.deniedByPolicy, error.description)
        case .noReservation?: ShimRefusal(.serviceOffline, error.description)
        default: ShimRefusal(.circuitFailed, error.description)
        }
    }
}
