/// The REP field of a SOCKS5 reply (RFC 1928 §6) and the reply message itself.
public enum Socks5Reply: UInt8, Sendable, CaseIterable {
    case succeeded = 0x00
    case generalFailure = 0x01
    /// "connection not allowed by ruleset": the policy denied the target.
    case notAllowed = 0x02
    case networkUnreachable = 0x03
    case hostUnreachable = 0x04
    case connectionRefused = 0x05
    case ttlExpired = 0x06
    case commandNotSupported = 0x07
    case addressTypeNotSupported = 0x08

    /// The whole reply: `VER REP RSV ATYP BND.ADDR BND.PORT` with the bound address 0.0.0.0:0.
    /// The shim has no meaningful local address to report (the real socket is at the exit or
    /// the service), and clients ignore it for CONNECT.
    public var message: [UInt8] {
        [Socks5Handshake.version, rawValue, 0x00, Socks5Handshake.AddressType.ipv4.rawValue, 0, 0, 0, 0, 0, 0]
    }
}
