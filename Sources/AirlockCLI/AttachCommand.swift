import AirlockAgent
import AirlockCore
import AirlockCrypto
import AirlockIO
#if canImport(Glibc)
import Glibc
#endif

/// `airlock attach`: wires an existing network namespace to the relay the way `run` wires a
/// fresh one (veth to the hub, identity-bound listener, shim), and returns. The attachment lasts
/// until `airlock detach NAME` or the relay stops.
enum AttachCommand: Command {
    static let name = "attach"
    static let summary = "attach an existing network namespace to the relay as an agent"
    static let help = """
        usage: airlock attach (--netns NAME | --pid PID) [--name AGENT] [--key FILE] [--control PATH]

        Gives an existing network namespace the one link an agent has: a veth to the relay's
        hub and a shim (SOCKS5 on 127.0.0.1:1080, HTTP proxy on 127.0.0.1:3128) inside it.
        The namespace must hold nothing but lo (a namespace with other interfaces, or the
        host's own, is refused). Processes in it then reach the services the policy allows the
        agent, and nothing else. Prints `attached NAME …`, where NAME is the attachment's name
        (the agent's, or AGENT-2 … when it is attached more than once), not the namespace's;
        undo with `airlock detach NAME`.

        You open the namespace (so your own rights decide), and the relay receives it as a
        descriptor: --netns NAME opens /run/netns/NAME, --pid PID opens /proc/PID/ns/net.

        options:
          --netns NAME    a named namespace (`ip netns add NAME`)
          --pid PID       the namespace process PID is in (e.g. one started with `unshare -n`)
          --name AGENT    the policy agent (default: your only agent)
          --key FILE      the agent's key, for an agent with a fixed identity
          --control PATH  the relay's control socket (default /run/airlock/control.sock)

        example:
          ip netns add sandbox && sudo airlock attach --netns sandbox --name coder
        """

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, options: ["netns", "pid", "name", "key", "control"])
        if a.wantsHelp { Output.out(help); return 0 }
        guard a.positionals.isEmpty else { throw Arguments.UsageError("unexpected argument \(a.positionals[0])") }
        let path: String, label: String
        switch (try a.value("netns"), try a.value("pid")) {
        case (let n?, nil):
            guard !n.isEmpty, !n.contains("/"), n != ".", n != ".." else { throw Arguments.UsageError("--netns \(n): expected a namespace name, as `ip netns list` shows") }
            path = "/run/netns/\(n)"; label = n
        case (nil, let p?):
            guard let pid = Int32(p), pid > 0 else { throw Arguments.UsageError("--pid \(p): expected a process id") }
            path = "/proc/\(pid)/ns/net"; label = "pid \(pid)"
        default:
            throw Arguments.UsageError("give exactly one of --netns NAME and --pid PID")
        }
        let control = try ControlCall.path(a)
        let ns = try ControlCall.open(path, what: "the network namespace")
        defer { close(ns) }
        var fds = [ns]
        var keyFD: Int32 = -1
        if let key = try a.value("key") {
            do { keyFD = try KeyFile.openChecked(key) } catch { throw CommandFailure(error.message) }
            fds.append(keyFD)
        }
        defer { if keyFD >= 0 { close(keyFD) } }

        let client = try ControlCall.connect(control)
        defer { client.close() }
        try ControlCall.send(client, "attach", ControlProtocol.AttachRequest(agent: try a.value("name"), label: label, key: keyFD >= 0), fds: fds)
        let reply = try ControlCall.expect(try ControlCall.receive(client, timeout: .seconds(30)), "attach")
        let s = try ControlCall.body(ControlProtocol.Started.self, reply.bytes)
        Output.out("attached \(s.name) (netns \(label)) as agent \(s.agent), peer \(s.peer), \(s.agentAddress) → relay \(s.hubAddress); undo with: airlock detach \(s.name)")
        return 0
    }
}
