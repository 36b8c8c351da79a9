import AirlockAgent
import AirlockCore
import AirlockCrypto
import AirlockIO
#if canImport(Glibc)
import Glibc
#endif

/// `airlock run`: asks the relay (through its control socket) to start CMD in a fresh agent
/// namespace, and stays until CMD ends, returning its exit status.
///
/// The relay builds everything (namespace, veth, identity binding, shim) and starts CMD as the
/// caller (for root: `SUDO_UID`, else `airlock-agent`). This process hands over its stdin,
/// stdout, stderr, working directory and `--key` as open descriptors, forwards SIGINT, SIGTERM
/// and SIGHUP, and holds the connection: when it dies, even by SIGKILL, the relay ends the run.
enum RunCommand: Command {
    static let name = "run"
    static let summary = "run a command in a fresh agent namespace, reachable only through the relay"
    static let help = """
        usage: airlock run [--name AGENT] [--allow TARGET]... [--forward PORT=SERVICE]... [--key FILE] [--control PATH] [--verbose] -- CMD [ARGS...]

        Starts CMD in an empty network namespace whose only link leads to the relay, and returns
        CMD's exit status (128+N when signal N ended it). Inside, HTTP_PROXY, HTTPS_PROXY,
        ALL_PROXY and NO_PROXY (and their lowercase forms) point at the agent's shim, so curl,
        git, pip and npm reach the services the policy allows by name (http://web/, web:80).
        Anything else, and any tool that ignores the variables, reaches nothing.

        CMD runs as you: through sudo as SUDO_UID, as root as the airlock-agent account; never
        as uid 0, with no capabilities, no supplementary groups and only descriptors 0-2. Its
        whole process tree ends with it, and everything airlock built for it goes away.

        Without sudo, members of group airlock may run the agents the policy gives their uid.

        options:
          --name AGENT           the policy agent to run as (default: your only agent)
          --allow TARGET         only these services or exits (repeatable): narrows what the
                                 policy grants; root's --allow may also grant
          --forward PORT=SERVICE listen on 127.0.0.1:PORT inside and connect straight to
                                 SERVICE (repeatable), for tools that take no proxy
          --key FILE             the agent's key (for an agent with a fixed identity); by
                                 default each run gets a fresh identity
          --control PATH         the relay's control socket (default /run/airlock/control.sock)
          --verbose              print what the relay built to stderr

        exit status: CMD's; 1 when the run could not start (the reason on stderr); 64 usage.

        example:
          sudo airlock run --name coder -- curl -s http://web/
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["name", "allow", "forward", "key", "control"], flags: ["verbose"])
        if a.wantsHelp { Output.out(help); return 0 }
        guard a.positionals.isEmpty else {
            throw Arguments.UsageError("unexpected argument \(a.positionals[0]); put the command after --")
        }
        guard !a.rest.isEmpty else { throw Arguments.UsageError("no command given; put it after --, e.g. airlock run -- curl http://web/") }
        for f in a.all("forward") {
            do { _ = try ShimConfig.parseForward(f) } catch { throw Arguments.UsageError(error.description) }
        }
        let path = try ControlCall.path(a)

        var fds: [Int32] = [0, 1, 2]
        let cwd = try ControlCall.open(".", directory: true, what: "the working directory")
        defer { close(cwd) }
        fds.append(cwd)
        var keyFD: Int32 = -1
        if let key = try a.value("key") {
            do { keyFD = try KeyFile.openChecked(key) } catch { throw CommandFailure(error.message) }
            fds.append(keyFD)
        }
        defer { if keyFD >= 0 { close(keyFD) } }

        var environment: [String: String] = [:]
        var e = environ
        while let entry = e.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { environment[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            e += 1
        }
        let request = ControlProtocol.RunRequest(agent: try a.value("name"), allow: a.all("allow"), forward: a.all("forward"),
                                                 command: a.rest, environment: environment, key: keyFD >= 0)

        let loop: EventLoop
        do { loop = try EventLoop() } catch { throw CommandFailure("cannot create the event loop: \(error)") }
        // The lifeline: the run lives as long as our end of it (see ControlProtocol.RunRequest).
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw CommandFailure("cannot create the lifeline: \(Output.errnoText())")
        }
        defer { close(pair[0]) }
        fds.insert(pair[1], at: 4)
        let client: ControlClient
        do {
            defer { close(pair[1]) }  // the relay has its copy once the request is sent
            client = try ControlCall.connect(path)
            try ControlCall.send(client, "run", request, fds: fds)
        }
        let session = RunSession(loop: loop, path: path, request: request, lifeline: pair[0], verbose: a.has("verbose"))
        return try session.run(client)
    }
}
