internal import CAirlockShims

/// A pseudo-terminal pair (pty(7)), for `airlock run` to give its agent a terminal of its own.
///
/// Both descriptors belong to the caller. Neither end can become the caller's controlling
/// terminal (O_NOCTTY); both are close-on-exec; the master is non-blocking. Whatever is written
/// to the master is the slave's input, through the slave's line discipline (echo, ^C → SIGINT
/// to its foreground process group); what is written to the slave is read from the master.
public struct PtyPair: Sendable {
    public let master: Int32
    public let slave: Int32

    /// Opens a new pair (`airlock_openpty`: posix_openpt, grantpt, unlockpt, TIOCGPTPEER).
    public static func open() throws(Errno) -> PtyPair {
        var m: Int32 = -1, s: Int32 = -1
        let err = airlock_openpty(&m, &s)
        guard err == 0 else { throw Errno(rawValue: err) }
        return PtyPair(master: m, slave: s)
    }
}
