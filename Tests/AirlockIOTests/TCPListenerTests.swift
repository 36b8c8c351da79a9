#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct TCPListenerTests {
        /// More clients than one turn's accept budget: all are accepted (the rest on later turns).
        @Test func acceptsBeyondThePerTurnBudget() async throws {
            let clients = 300
            let accepted: Int = try await onLoop { loop, done in
                let listener = try! TCPListener(on: .loopbackV4(port: 0), loop: loop)
                listener.maxAcceptsPerEvent = 8
                var count = 0
                var held: [Socket] = []
                listener.onAccept = { s in
                    count += 1
                    held.append(s)
                    if count == clients {
                        held.forEach { $0.close() }
                        listener.close()
                        done(.success(count))
                    }
                }
                for _ in 0..<clients { _ = TCPConnection.connect(to: listener.address, on: loop) }
            }
            #expect(accepted == clients)
        }

        @Test func reportsTheBoundPortAndClosesItsFd() async throws {
            let (port, fdClosed): (UInt16, Bool) = try await onLoop { loop, done in
                let listener = try! TCPListener(on: .loopbackV6(port: 0), loop: loop)
                let port = listener.address.port
                let fd = listener.socket.fd
                listener.close()
                done(.success((port, fcntl(fd, F_GETFD) == -1)))
            }
            #expect(port != 0)
            #expect(fdClosed)
        }
    }
}
