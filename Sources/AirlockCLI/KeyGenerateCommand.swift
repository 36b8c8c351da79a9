#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto

/// `airlock key generate`: a fresh Ed25519 identity, written to a key file (mode 0600).
///
/// The secret goes only where it was asked to go: `--out FILE`, or stdout when `--stdout` is
/// given and stdout is not a terminal. The peer ID, which is public, goes to stdout with `--out`
/// (one line, for scripts) and to stderr with `--stdout`.
public enum KeyGenerateCommand: Command {
    public static let name = "generate"
    public static let summary = "make a new identity key file"

    public static let help = """
        usage: airlock key generate --out FILE [--force] | --stdout

        Makes a new Ed25519 identity. Prints its peer ID on stdout (one line) and, on stderr,
        where the key was written.

        options:
          --out FILE   write the key file to FILE, mode 0600 (written to a temporary file, then
                       renamed into place). Refuses to replace an existing FILE.
          --force      with --out: replace FILE if it exists. The old key is lost.
          --stdout     write the key file to stdout instead (the peer ID then goes to stderr).
                       Refused when stdout is a terminal, so a secret is never shown by accident.
                       A file the shell creates for `>` gets your umask: chmod 600 it.
          -h, --help   show this help

        exit status: 0 written, 1 failed (the message says why), 64 usage error.

        examples:
          airlock key generate --out /etc/airlock/ollama.key
          airlock key generate --stdout | systemd-creds encrypt - ollama.key.cred
        """

    public static func run(_ args: [String]) throws -> Int32 {
        let parsed = try Arguments(args, options: ["out"], flags: ["force", "stdout"])
        if parsed.wantsHelp { Output.out(help); return 0 }
        if let extra = CommandGroup.operands(parsed).first { throw Arguments.UsageError("unexpected argument \(extra)") }
        let out = try parsed.value("out")
        let toStdout = parsed.has("stdout")
        switch (out, toStdout) {
        case (nil, false):
            throw Arguments.UsageError("--out FILE is required (or --stdout with stdout redirected)")
        case (_?, true):
            throw Arguments.UsageError("--out and --stdout cannot be combined")
        case (nil, true):
            guard !parsed.has("force") else { throw Arguments.UsageError("--force applies only with --out") }
            guard !Output.isTerminal(1) else {
                throw Arguments.UsageError("refusing to print a secret key to a terminal; use --out FILE, or redirect stdout")
            }
            return try writeToStdout(Ed25519PrivateKey())
        case (let path?, false):
            return try write(Ed25519PrivateKey(), to: path, force: parsed.has("force"))
        }
    }

    private static func write(_ key: Ed25519PrivateKey, to path: String, force: Bool) throws(CommandFailure) -> Int32 {
        guard !path.isEmpty else { throw CommandFailure("--out needs a file name") }
        // Without --force the name is claimed first with O_EXCL, so a file that appears between
        // a check and the write is not replaced; KeyFile.write then renames over our own
        // placeholder. With --force the rename replaces whatever is there.
        var placeholder = false
        if !force {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                if errno == EEXIST {
                    throw CommandFailure("\(path) already exists; choose another --out FILE, or add --force to replace it (the old key is lost)")
                }
                throw CommandFailure("cannot create \(path): \(Output.errnoText()); check that its directory exists and that you may write to it")
            }
            close(fd)
            placeholder = true
        }
        do {
            try KeyFile.write(key, to: path)
        } catch {
            if placeholder { unlink(path) }
            throw CommandFailure("\(error.message); check that the directory of \(path) exists and that you may write to it")
        }
        let peer = PeerID(publicKey: key.publicKey)
        Output.out(peer.description)
        CLI.printErr("wrote key file \(path) (mode 0600) for peer \(peer)")
        return 0
    }

    /// The key file text, built in memory and wiped after writing: going through a temporary
    /// file would put the secret on disk.
    private static func writeToStdout(_ key: Ed25519PrivateKey) throws(CommandFailure) -> Int32 {
        let peer = PeerID(publicKey: key.publicKey)
        var text = KeyFile.render(key)
        let ok = Output.writeAll(1, text)
        text.withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } }
        guard ok else { throw CommandFailure("cannot write the key to stdout: \(Output.errnoText())") }
        CLI.printErr("wrote key file to stdout for peer \(peer)")
        return 0
    }
}
