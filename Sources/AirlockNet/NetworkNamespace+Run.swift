extension NetworkNamespace {
    /// Runs `body` inside this namespace and returns its result.
    ///
    /// This is the only sanctioned way to act inside another network namespace. `body` runs on a
    /// dedicated thread created for it, which enters the namespace with `setns` and exits when
    /// `body` returns; the calling thread never changes namespace and no thread that was moved is
    /// ever reused. Sockets (including netlink sockets) keep the namespace they were created in, so
    /// a listener created here may be used afterwards from any thread, e.g. an event loop in the
    /// root namespace.
    ///
    /// Blocks the calling thread until `body` returns: from async code, call it where blocking is
    /// acceptable. `body` must not start work that outlives it on its thread. Throws `NetError`
    /// when the thread cannot start or enter the namespace (then `body` did not run), or whatever
    /// `body` throws.
    public func run<T>(_ body: () throws -> T) throws -> T {
        var result: Result<T, any Error>?
        try NamespaceThread.run(fd: descriptor, context: label) {
            result = Result { try body() }
        }
        return try result!.get()
    }

    /// `run` for this module's own work, keeping the error type closed.
    func runNet<T>(_ body: () throws(NetError) -> T) throws(NetError) -> T {
        var result: Result<T, NetError>?
        try NamespaceThread.run(fd: descriptor, context: label) {
            do throws(NetError) { result = .success(try body()) } catch { result = .failure(error) }
        }
        return try result!.get()
    }

    /// Opens a route netlink socket inside this namespace, runs `body` with it there, frees it.
    func withNetlink<T>(_ body: (NetlinkSocket) throws(NetError) -> T) throws(NetError) -> T {
        try runNet { () throws(NetError) -> T in
            let sock = try NetlinkSocket(context: label)
            return try body(sock)
        }
    }
}
