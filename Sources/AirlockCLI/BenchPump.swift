import AirlockIO

/// The client end of the transfer: writes the pattern as fast as the stream's send window
/// allows, in windows of up to 256 KiB (what one `write` may take), then half-closes.
///
/// **Thread:** the loop only.
final class BenchPump {
    let stream: Libp2pStream
    let total: Int
    private(set) var sent = 0

    init(_ s: Libp2pStream, total: Int) {
        stream = s
        self.total = total
    }

    func start() {
        stream.onWritable = { [unowned self] in pump() }
        // The sink sends nothing; anything that comes back is credit-neutral noise.
        stream.onData = { [unowned self] raw in stream.consume(raw.count) }
        pump()
    }

    private func pump() {
        while sent < total {
            let n = min(BenchPattern.maxWindow, total - sent)
            let took = BenchPattern.withWindow(offset: sent, count: n) { stream.write($0) }
            sent += took
            if took < n { return }
        }
        stream.onWritable = nil
        stream.closeWrite()
    }
}
