import Foundation
@testable import AirlockNet

/// Plain blocking IPv4 TCP for the namespace tests; every call bounded by a 5 s socket timeout.
enum TCP {
    struct Failure: Error, CustomStringConvertible {
        let call: String; let code: Int32
        var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    static func socket() throws -> Int32 {
        let fd = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", code: errno) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func address(_ a: IPv4Address, _ port: UInt16) -> sockaddr_in {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr.s_addr = a.value.bigEndian
        return sin
    }

    /// A listener on `a`, port chosen by the kernel.
    static func listen(on a: IPv4Address) throws -> (Int32, UInt16) {
        let fd = try socket()
        var sin = address(a, 0)
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { let e = errno; close(fd); throw Failure(call: "bind \(a)", code: e) }
        guard Foundation.listen(fd, 4) == 0 else { let e = errno; close(fd); throw Failure(call: "listen", code: e) }
        return (fd, try localPort(fd))
    }

    static func connect(_ fd: Int32, to a: IPv4Address, port: UInt16) throws {
        var sin = address(a, port)
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw Failure(call: "connect \(a):\(port)", code: errno) }
    }

    static func local(_ fd: Int32) throws -> sockaddr_in {
        var sin = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { throw Failure(call: "getsockname", code: errno) }
        return sin
    }

    static func localPort(_ fd: Int32) throws -> UInt16 { UInt16(bigEndian: try local(fd).sin_port) }
    static func localAddress(_ fd: Int32) throws -> IPv4Address { IPv4Address(UInt32(bigEndian: try local(fd).sin_addr.s_addr)) }

    static func send(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
    }

    static func receive(_ fd: Int32, _ count: Int) -> String? {
        var buf = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            if n <= 0 { return nil }
            got += n
        }
        return String(decoding: buf, as: UTF8.self)
    }
}
