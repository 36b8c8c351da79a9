import AirlockCore
import AirlockCrypto

/// `airlock key show`: the public identity of a key file. Reads the key with `KeyFile.read`, so a
/// file other users may read is refused, as everywhere else.
public enum KeyShowCommand: Command {
    public static let name = "show"
    public static let summary = "print a key file's peer ID and public key"

    public static let help = """
        usage: airlock key show FILE [--json]
               airlock key show --key FILE [--json]

        Prints the public identity of the key file FILE, one `name: value` line each:
          peer_id      the peer ID, base58btc (12D3KooW…), as policies and logs write it
          peer_id_cid  the same peer ID as a CIDv1 (bafz…), also accepted in policies
          public_key   the raw 32-byte Ed25519 public key, hex
        The secret key is never printed. A key file that group or others may read is refused.

        options:
          --key FILE   the key file (instead of the FILE argument)
          --json       print one JSON object with the same fields
          -h, --help   show this help

        exit status: 0 shown, 1 the file is missing, unreadable, not private or not a key, 64 usage error.

        example:
          airlock key show /etc/airlock/ollama.key
        """

    public static func run(_ args: [String]) throws -> Int32 {
        let parsed = try Arguments(args, options: ["key"], flags: ["json"])
        if parsed.wantsHelp { Output.out(help); return 0 }
        let operands = CommandGroup.operands(parsed)
        guard operands.count <= 1 else { throw Arguments.UsageError("unexpected argument \(operands[1])") }
        let path: String
        switch (try parsed.value("key"), operands.first) {
        case (let k?, nil), (nil, let k?): path = k
        case (_?, _?): throw Arguments.UsageError("give the key file once: as FILE or as --key FILE")
        case (nil, nil): throw Arguments.UsageError("a key file is needed")
        }
        let key: Ed25519PrivateKey
        do {
            key = try KeyFile.read(path)
        } catch {
            throw CommandFailure(error.message)
        }
        let fields = describe(key.publicKey)
        if parsed.has("json") {
            Output.out(Output.jsonObject(fields))
        } else {
            Output.out(fields.map { "\($0.0): \($0.1)" }.joined(separator: "\n"))
        }
        return 0
    }

    /// The printed fields, in order.
    static func describe(_ publicKey: Ed25519PublicKey) -> [(String, String)] {
        let peer = PeerID(publicKey: publicKey)
        return [("peer_id", peer.description), ("peer_id_cid", peer.cidString), ("public_key", Hex.encode(publicKey.bytes))]
    }
}
