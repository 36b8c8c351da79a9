import AirlockPolicy

/// `airlock allow FROM TARGET [HOST:PORT…]`: adds the rule (or the destinations) to the policy
/// file under its lock, atomically, then tells the relay to reload.
enum AllowCommand: Command {
    static let name = "allow"
    static let summary = "let an agent reach a service or an exit (edits the policy)"
    static let help = """
        usage: airlock allow AGENT TARGET [HOST:PORT...] [--policy FILE] [--control PATH] [--no-reload]

        Adds a rule from AGENT (an agent, or a peer or service, by its policy name) to TARGET
        (a service or an exit) to the policy file, then asks the running relay to reload it. For
        an exit, name the HOST:PORT destinations it may dial (docs/policy.md, "Destinations");
        they are added to the rule if there is one. A rule that is already there changes nothing.

        The file is rewritten in canonical form (docs/policy.md) under an exclusive lock, so
        concurrent edits all land, and atomically, with its mode and owner kept. An edit that
        would not validate is refused with its problems and the file stays as it was. The new
        rule applies to the next connection at once.

        If no relay answers on the control socket, the file is still written (exit 0) and the
        relay reads it when it starts or reloads. Reloading takes root or the file's owner.

        options:
          --policy FILE   the policy file (else $\(PolicyCommand.environmentVariable), else \(PolicyCommand.defaultPath))
          --control PATH  the relay's control socket (default /run/airlock/control.sock)
          --no-reload     only write the file
          -h, --help      show this help

        exit status: 0 written (or already allowed), 1 refused or failed, 64 usage error.

        examples:
          sudo airlock allow coder ollama
          sudo airlock allow coder web api.github.com:443 '*.pypi.org:443'
        """

    static func run(_ args: [String]) throws -> Int32 {
        try PolicyEdit.run(args, help: help, allow: true)
    }
}
