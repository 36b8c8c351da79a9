import AirlockAgent
import AirlockIO

/// `airlock detach NAME`: ends an attachment (or a run) by the name `attach` printed.
enum DetachCommand: Command {
    static let name = "detach"
    static let summary = "undo an attach (or end a run) by name"
    static let help = """
        usage: airlock detach NAME [--control PATH]

        NAME is what `attach` printed or `run --verbose` showed: the agent's name (AGENT-2 …
        for a second one at once), not the namespace's. Stops the shim of attachment NAME and
        removes its veth; a namespace that `attach` was
        given stays, empty again, while one the relay made for `airlock run` is deleted and the
        run's command is killed. You may detach only agents the policy gives your uid (root any).

        options:
          --control PATH  the relay's control socket (default /run/airlock/control.sock)
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["control"])
        if a.wantsHelp { Output.out(help); return 0 }
        guard a.positionals.count == 1 else {
            throw Arguments.UsageError(a.positionals.isEmpty ? "the attachment NAME is missing" : "unexpected argument \(a.positionals[1])")
        }
        let client = try ControlCall.connect(try ControlCall.path(a))
        defer { client.close() }
        try ControlCall.send(client, "detach", ControlProtocol.DetachRequest(name: a.positionals[0]))
        _ = try ControlCall.expect(try ControlCall.receive(client, timeout: .seconds(30)), "detach")
        Output.out("detached \(a.positionals[0])")
        return 0
    }
}
