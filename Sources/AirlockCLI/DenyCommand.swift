/// `airlock deny FROM TARGET [HOST:PORT…]`: removes the rule (or only the destinations).
enum DenyCommand: Command {
    static let name = "deny"
    static let summary = "take back what allow granted (edits the policy)"
    static let help = """
        usage: airlock deny AGENT TARGET [HOST:PORT...] [--policy FILE] [--control PATH] [--no-reload]

        Removes the rule from AGENT to TARGET from the policy file, or, with HOST:PORT, only
        those destinations of an exit rule (the rule goes with its last one), then asks the
        running relay to reload. The relay closes the circuits the policy no longer allows as
        soon as it applies the reload, and logs each (circuit_revoked). Nothing allows what no
        rule names, so a pair without a rule is already denied and nothing changes.

        The file is edited as `airlock allow` edits it: under a lock, atomically, refused when
        the result would not validate; written even when no relay answers.

        options:
          --policy FILE   the policy file (else $\(PolicyCommand.environmentVariable), else \(PolicyCommand.defaultPath))
          --control PATH  the relay's control socket (default /run/airlock/control.sock)
          --no-reload     only write the file
          -h, --help      show this help

        exit status: 0 written (or already denied), 1 refused or failed, 2 a HOST:PORT asked
        denied is still allowed by another destination of the rule (it says which), 64 usage error.

        examples:
          sudo airlock deny coder ollama
          sudo airlock deny coder web api.github.com:443
        """

    static func run(_ args: [String]) throws -> Int32 {
        try PolicyEdit.run(args, help: help, allow: false)
    }
}
