import AirlockIO
import AirlockWire

/// One inbound hop stream while the relay works on it (wire.md §5.4, §5.5): from acceptance until
/// it is answered, spliced, or gone. It holds one of its connection's in-flight slots
/// (`RelayConfig.maxHopInFlightPerConnection`) for exactly that long.
///
/// **Thread:** the host's loop. Plain state; `RelayServer` drives it.
final class HopExchange {
    let stream: Libp2pStream
    let connectionID: UInt64
    /// The first-message timer, then the STOP-answer timer.
    var timer: TimerID?
    /// During a CONNECT: the STOP stream to the target, once opened.
    var stop: Libp2pStream?
    /// During a CONNECT: the circuit caps this request holds.
    var slot: CircuitSlot?
    /// During a CONNECT: the Circuit v2 limit the circuit will run under (nil: none).
    var limit: Limit?
    /// During a CONNECT: the allowing decision's reason (`rule`, `run-grant`), for the audit.
    var reason: String?
    /// Set once the exchange is over (answered, spliced or abandoned).
    var finished = false

    init(stream: Libp2pStream) {
        self.stream = stream
        connectionID = stream.connection.id
    }
}
