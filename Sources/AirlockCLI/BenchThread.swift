#if canImport(Glibc)
import Glibc
#endif

/// A plain POSIX thread running one closure, for the bench's blocking sender, forwarder and
/// receiver (they must not share a thread, or their CPU time could not be told apart), and for
/// the two copying directions of `RunTerminal`.
final class BenchThread {
    private var tid: pthread_t?

    /// Starts `body` on a new thread; `name` appears in errors.
    init(name: String, _ body: @escaping () -> Void) throws(CommandFailure) {
        let context = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            start.body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            throw CommandFailure("cannot start a thread: \(String(cString: strerror(rc)))")
        }
        tid = t
    }

    /// Waits for the closure to return. Only the first call waits.
    func join() {
        guard let t = tid else { return }
        tid = nil
        pthread_join(t, nil)
    }

    private final class Start {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) { self.name = name; self.body = body }
    }
}
