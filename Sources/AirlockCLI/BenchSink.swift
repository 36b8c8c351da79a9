import AirlockIO

/// The service end of the transfer: takes each chunk in raw mode, compares it with the pattern
/// (one `memcmp`, the cheapest check that also catches reordering), and returns the credit at once.
///
/// **Thread:** the loop only.
final class BenchSink {
    let expected: Int
    private(set) var stream: Libp2pStream?
    private(set) var received = 0
    private(set) var corrupt = false
    var onAttached: (() -> Void)?
    /// The sender's FIN arrived: bytes received and whether any chunk differed from the pattern.
    var onDone: ((Int, Bool) -> Void)?
    var onFailed: ((String) -> Void)?

    init(expected: Int) { self.expected = expected }

    func attach(_ s: Libp2pStream) {
        stream = s
        s.onData = { [unowned self, unowned s] raw in
            if !BenchPattern.matches(raw, offset: received) { corrupt = true }
            received += raw.count
            s.consume(raw.count)
        }
        s.onRemoteClose = { [unowned self, unowned s] in
            s.closeWrite()
            let cb = onDone
            onDone = nil; onFailed = nil
            cb?(received, corrupt)
        }
        s.onEnd = { [unowned self] how in
            guard how != .closed else { return }
            let cb = onFailed
            onDone = nil; onFailed = nil
            cb?("\(how) after \(received) bytes")
        }
        let cb = onAttached
        onAttached = nil
        cb?()
    }
}
