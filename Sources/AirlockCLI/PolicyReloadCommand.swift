/// `airlock policy reload`: the control-socket equivalent of SIGHUP.
enum PolicyReloadCommand: Command {
    static let name = "reload"
    static let summary = "make the running relay re-read its policy file"
    static let help = """
        usage: airlock policy reload [--control PATH]

        Asks the relay serving the control socket to re-read the policy file it was started
        with, as SIGHUP does. A file that does not validate is refused with every problem and
        the last good policy stays; otherwise the new policy decides every new connection at
        once, and circuits and reservations it no longer allows are closed. Only root and the
        owner of the policy file may reload.

        options:
          --control PATH  the relay's control socket (default /run/airlock/control.sock)
          -h, --help      show this help

        exit status: 0 reloaded, 1 refused or no relay answered, 64 usage error.

        example:
          sudo airlock policy reload
        """

    static func run(_ args: [String]) throws -> Int32 {
        let parsed = try Arguments(args, options: ["control"])
        if parsed.wantsHelp { Output.out(help); return 0 }
        if let extra = CommandGroup.operands(parsed).first { throw Arguments.UsageError("unexpected argument \(extra)") }
        switch try PolicyReload.ask(try parsed.value("control") ?? "/run/airlock/control.sock") {
        case .reloaded(let r): Output.out(PolicyReload.describe(r)); return 0
        case .noRelay(let why): throw CommandFailure(why)
        }
    }
}
