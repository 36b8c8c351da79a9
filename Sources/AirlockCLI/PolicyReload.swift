import AirlockAgent
import AirlockIO
import AirlockPolicy
#if canImport(Glibc)
import Glibc
#endif

/// Asking the running relay to re-read its policy through the control socket's `reload`
/// (`airlock policy reload`, and `allow` / `deny` after they wrote the file).
enum PolicyReload {
    enum Outcome {
        /// The relay applied the file.
        case reloaded(ControlProtocol.Reloaded)
        /// No relay serves the socket (or this user cannot reach it): the text says so.
        case noRelay(String)
    }

    /// Sends `reload` to the relay at `control` and waits (up to 10 s) for its answer. A refusal
    /// (not root nor the file's owner, a policy that does not validate) is a failure with the
    /// relay's words.
    static func ask(_ control: String) throws(CommandFailure) -> Outcome {
        let client: ControlClient
        do { client = try ControlCall.connect(control) } catch { return .noRelay(error.description) }
        try ControlCall.send(client, "reload", ControlProtocol.ReloadRequest())
        let reply = try ControlCall.expect(try ControlCall.receive(client, timeout: .seconds(10)), "reload")
        guard reply.type == "reloaded" else { throw CommandFailure("the relay answered \(reply.type) to reload") }
        return .reloaded(try ControlCall.body(ControlProtocol.Reloaded.self, reply.bytes))
    }

    /// `relay reloaded FILE: 6 rules; 1 circuit closed`.
    static func describe(_ r: ControlProtocol.Reloaded) -> String {
        var s = "relay reloaded \(r.file): \(Output.count(r.rules, "rule"))"
        var ended: [String] = []
        if r.circuitsClosed > 0 { ended.append("\(Output.count(r.circuitsClosed, "circuit")) closed") }
        if r.connectsRefused > 0 { ended.append("\(Output.count(r.connectsRefused, "pending CONNECT")) refused") }
        if r.reservationsEnded > 0 { ended.append("\(Output.count(r.reservationsEnded, "reservation")) ended") }
        if r.exitsClosed > 0 { ended.append("\(Output.count(r.exitsClosed, "exit connection")) closed") }
        if !ended.isEmpty { s += "; no longer allowed: " + ended.joined(separator: ", ") }
        return s
    }

    /// After an edit of `path`: reload the relay unless `skip`; prints what happened. Returns
    /// the exit status (0 also when no relay answers: the file is written).
    static func afterEdit(_ path: String, control: String, skip: Bool) throws(CommandFailure) -> Int32 {
        if skip { return 0 }
        switch try askAfterEdit(control, path) {
        case .reloaded(let r):
            Output.out(describe(r))
            if canonical(r.file) != canonical(path) {
                CLI.printErr("note: the relay reads \(r.file), not \(path); this edit is not what it applied")
            }
        case .noRelay(let why):
            CLI.printErr("note: \(why)\n\(path) is written; a relay reads it when it starts, on SIGHUP, or on `airlock policy reload`")
        }
        return 0
    }

    /// `path` with symlinks resolved, or as given when it cannot be resolved.
    static func canonical(_ path: String) -> String {
        guard let r = realpath(path, nil) else { return path }
        defer { free(r) }
        return String(cString: r)
    }

    private static func askAfterEdit(_ control: String, _ path: String) throws(CommandFailure) -> Outcome {
        do { return try ask(control) } catch {
            throw CommandFailure("\(path) is written, but the relay did not reload it: \(error)")
        }
    }
}
