/// `airlock key`: make and inspect Ed25519 identity key files.
public enum KeyCommand: Command {
    public static let name = "key"
    public static let summary = "make and inspect Ed25519 identity keys"
    static var subcommands: [any Command.Type] { [KeyGenerateCommand.self, KeyShowCommand.self] }

    public static var help: String {
        """
        usage: airlock key COMMAND [OPTIONS]

        Make and inspect the Ed25519 identity key files that agents, services and exits use as
        their libp2p identity. A key file is private to its owner (mode 0600).

        commands:
        \(CommandGroup.list(subcommands))

        Run `airlock key COMMAND --help` for a command's options.

        example:
          airlock key generate --out /etc/airlock/ollama.key
        """
    }

    public static func run(_ args: [String]) throws -> Int32 {
        try CommandGroup.run(args, help: help, subcommands: subcommands)
    }
}
