#if canImport(Glibc)
import Glibc
#endif
import AirlockIO

/// `airlock run` from a terminal: the agent gets a pty of its own, and this relays bytes between
/// it and the caller's terminal, which is in raw mode meanwhile.
///
/// The agent runs in its own session with the pty's slave as controlling terminal, so job
/// control, ^C and full-screen programs work inside, while nothing it does reaches the caller's
/// terminal except as output written through here: it holds no descriptor of that terminal and
/// cannot make it its controlling one, so it cannot read it, change its mode or push input into
/// it (TIOCSTI).
///
/// Descriptors: the slave replaces each of stdin, stdout and stderr that is a terminal; one that
/// is not (`airlock run -- cmd > file`) is handed over as it is, so the agent sees what it would
/// see run directly. The agent's terminal output goes to the caller's stdout when that is a
/// terminal, else to its stderr, else to the terminal on stdin.
///
/// With stdin not a terminal (`< file`, `< /dev/null`) but stdout or stderr one, the pty is for
/// output only (`interactive` false): the caller's terminal stays as it is (not raw), nothing is
/// read from it, and the agent, which otherwise would hold a descriptor of that terminal, can
/// neither read it nor change its mode.
///
/// **Threads:** two plain threads copy with blocking I/O behind `poll`: the caller's stdin and
/// stdout are left exactly as they are (their file descriptions are shared with the shell, so no
/// O_NONBLOCK); only the master, ours alone, is non-blocking. One bounded buffer per direction,
/// allocated once. The rest (`open`, `start`, `resize`, `finish`) is called on the main thread.
final class RunTerminal {
    /// Bytes per read in each direction.
    static let bufferSize = 16 * 1024
    /// How long `finish` waits for the agent's last output before it stops copying.
    static let drainMilliseconds: Int32 = 2000

    /// The pty's master: ours, non-blocking.
    let master: Int32
    /// The slave, until `closeSlave()` (after the run request carried it to the relay).
    private(set) var slave: Int32
    /// Descriptors 0-2 for the run request.
    let stdio: [Int32]
    /// Where the agent's terminal output is written.
    let output: Int32
    /// The caller's terminal mode, put back by `finish`.
    private let saved: termios
    /// Whether stdin is the terminal: then input is relayed too, in raw mode, and the pty is
    /// the agent's controlling terminal. Otherwise the pty carries output only.
    let interactive: Bool
    /// The caller's terminal the window size is read from.
    private let sizeSource: Int32
    private(set) var isRaw = false
    /// Written once to stop both threads; the output thread writes `done` when it ends.
    /// (`read` and `write` are the two ends of a socket pair.)
    private let stop: (read: Int32, write: Int32)
    private let done: (read: Int32, write: Int32)
    private var inputThread: BenchThread?
    private var outputThread: BenchThread?
    private var finished = false

    /// The pty for a caller with a terminal on stdin, stdout or stderr, with that terminal's mode
    /// and window size copied onto it; nil when none of them is a terminal (the agent then gets
    /// plain descriptors).
    static func open() throws(CommandFailure) -> RunTerminal? {
        guard let tty = (0...2).first(where: { isatty($0) == 1 }) else { return nil }
        var mode = termios()
        guard tcgetattr(tty, &mode) == 0 else { throw CommandFailure("cannot read the terminal's mode: \(Output.errnoText())") }
        let pty: PtyPair
        do { pty = try PtyPair.open() } catch { throw CommandFailure("cannot open a pty for the agent: \(error)") }
        let m = pty.master, s = pty.slave
        var size = winsize()
        if ioctl(tty, UInt(TIOCGWINSZ), &size) == 0 { _ = ioctl(m, UInt(TIOCSWINSZ), &size) }
        guard tcsetattr(s, TCSANOW, &mode) == 0 else {
            let why = Output.errnoText()
            close(s); close(m)
            throw CommandFailure("cannot set up the agent's pty: \(why)")
        }
        // Two one-way signals between threads (socket pairs: close-on-exec from birth).
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        var stop: [Int32] = [-1, -1], done: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, kind, 0, &stop) == 0 else {
            let why = Output.errnoText()
            close(s); close(m)
            throw CommandFailure("cannot create a socket pair: \(why)")
        }
        guard socketpair(AF_UNIX, kind, 0, &done) == 0 else {
            let why = Output.errnoText()
            close(s); close(m); close(stop[0]); close(stop[1])
            throw CommandFailure("cannot create a socket pair: \(why)")
        }
        return RunTerminal(master: m, slave: s, mode: mode, sizeSource: tty, stop: (stop[0], stop[1]), done: (done[0], done[1]))
    }

    private init(master: Int32, slave: Int32, mode: termios, sizeSource: Int32, stop: (Int32, Int32), done: (Int32, Int32)) {
        self.master = master
        self.slave = slave
        self.saved = mode
        self.sizeSource = sizeSource
        self.stop = stop
        self.done = done
        let input = isatty(0) == 1, out = isatty(1) == 1, err = isatty(2) == 1
        interactive = input
        stdio = [input ? slave : 0, out ? slave : 1, err ? slave : 2]
        output = out ? 1 : err ? 2 : 0
    }

    deinit { finish() }

    /// Closes our copy of the slave, once the relay has its own: the master reports the end
    /// (EIO) only when the agent's are all closed too.
    func closeSlave() {
        if slave >= 0 { close(slave); slave = -1 }
    }

    /// Puts the caller's terminal in raw mode (keys, ^C included, go to the agent as bytes) and
    /// starts copying. Call it after the signals are watched, so the threads inherit the mask
    /// and no SIGINT, SIGTERM or SIGHUP can end this process with the terminal left raw.
    func start() throws(CommandFailure) {
        precondition(!isRaw && inputThread == nil && outputThread == nil, "RunTerminal started twice")
        let master = master, output = output, stop = stop.read, done = done.write
        if interactive {
            var raw = saved
            cfmakeraw(&raw)
            guard tcsetattr(0, TCSANOW, &raw) == 0 else { throw CommandFailure("cannot put the terminal in raw mode: \(Output.errnoText())") }
            isRaw = true
            inputThread = try BenchThread(name: "terminal input") { Self.copyInput(to: master, stop: stop) }
        }
        outputThread = try BenchThread(name: "terminal output") {
            Self.copyOutput(from: master, to: output, stop: stop)
            var byte: UInt8 = 1
            _ = write(done, &byte, 1)
        }
    }

    /// SIGWINCH: the caller's window size onto the pty; the kernel signals the agent's
    /// foreground process group when it changed.
    func resize() {
        var size = winsize()
        if ioctl(sizeSource, UInt(TIOCGWINSZ), &size) == 0 { _ = ioctl(master, UInt(TIOCSWINSZ), &size) }
    }

    /// The run is over: waits (at most `drainMilliseconds`) for the agent's remaining output to
    /// be written, stops copying, and restores the caller's terminal mode. Idempotent; also the
    /// path for every error after `open`.
    func finish() {
        guard !finished else { return }
        finished = true
        closeSlave()
        var outputEnded = outputThread == nil
        if !outputEnded {
            var p = pollfd(fd: done.read, events: Int16(POLLIN), revents: 0)
            while true {
                let n = poll(&p, 1, Self.drainMilliseconds)
                if n < 0 && errno == EINTR { continue }
                outputEnded = n == 1
                break
            }
        }
        var byte: UInt8 = 1
        _ = write(stop.write, &byte, 1)
        inputThread?.join()  // only ever waits in poll, so it sees the stop
        if outputEnded { outputThread?.join() }
        if isRaw {
            var mode = saved
            _ = tcsetattr(0, TCSANOW, &mode)
            isRaw = false
        }
        // An output thread stuck writing to a terminal that takes nothing keeps its descriptors;
        // the process is about to exit.
        guard outputEnded else { return }
        for fd in [master, stop.read, stop.write, done.read, done.write] { close(fd) }
    }

    // MARK: the copying threads

    /// Caller's terminal → master, until the terminal ends, the agent's side is gone, or stop.
    private static func copyInput(to master: Int32, stop: Int32) {
        blockSignals()
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buf.deallocate() }
        while true {
            guard wait(for: 0, events: POLLIN, stop: stop) else { return }
            let n = read(0, buf.baseAddress, buf.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return }  // the terminal hung up
            var sent = 0
            while sent < n {
                let w = write(master, buf.baseAddress! + sent, n - sent)
                if w > 0 { sent += w; continue }
                if w < 0 && errno == EINTR { continue }
                // Full: the agent is not reading; wait for room, as a keyboard would.
                if w < 0 && errno == EAGAIN, wait(for: master, events: POLLOUT, stop: stop) { continue }
                return  // EIO: the agent's side is closed; or stop
            }
        }
    }

    /// Master → caller's terminal, until the last slave closes (EIO, after what remains was
    /// read) or stop. A failed write drops that output but keeps draining, so the agent never
    /// blocks on a terminal that went away.
    private static func copyOutput(from master: Int32, to output: Int32, stop: Int32) {
        blockSignals()
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buf.deallocate() }
        var writable = true
        while true {
            guard wait(for: master, events: POLLIN, stop: stop) else { return }
            let n = read(master, buf.baseAddress, buf.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return }
            var sent = 0
            while writable && sent < n {
                let w = write(output, buf.baseAddress! + sent, n - sent)
                if w > 0 { sent += w } else if w < 0 && errno == EINTR { continue } else { writable = false }
            }
        }
    }

    /// Polls `fd` for `events` and `stop`; false once `stop` is readable (or polling fails).
    /// A hang-up or error on `fd` counts as ready: the next read or write reports it.
    private static func wait(for fd: Int32, events: Int32, stop: Int32) -> Bool {
        withUnsafeTemporaryAllocation(of: pollfd.self, capacity: 2) { p in
            p[0] = pollfd(fd: fd, events: Int16(events), revents: 0)
            p[1] = pollfd(fd: stop, events: Int16(POLLIN), revents: 0)
            while true {
                let n = poll(p.baseAddress, 2, -1)
                if n < 0 && errno == EINTR { continue }
                if n < 0 || p[1].revents != 0 || p[0].revents & Int16(POLLNVAL) != 0 { return false }
                if p[0].revents != 0 { return true }
            }
        }
    }

    /// Signals are for the main thread's signalfd, never these threads.
    private static func blockSignals() {
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
    }
}
