import AirlockCore
import AirlockIO
import AirlockPolicy
import AirlockRelay

extension ExitService {
    /// The relay's built-in exit (`airlock relay --exit`, the policy's exit with
    /// `"peer": "relay"`): served on the relay's own host, for requests on direct connections
    /// (agents' links and the public listener), decided by the relay's policy at once
    /// (`RelayServer.exitVerdict`), its refusals counted by the relay (`--kill-on-deny`,
    /// `airlock status`), audited in the relay's audit log, and re-checked after every reload.
    public static func relay(_ server: RelayServer, resolver: any NameResolver, settings: Settings = Settings(),
                             logger: Logger) -> ExitService {
        var s = settings
        s.relayedOnly = false
        let exit = ExitService(host: server.host, name: server.policy.relayExit?.name ?? "relay", resolver: resolver,
                               settings: s, logger: logger) { [unowned server] source, host, port, _, done in
            done(server.exitVerdict(from: source, exit: nil, host: host, port: port))
        }
        exit.audit = server.audit
        exit.onRefusal = { [unowned server, unowned exit] source, agent, target, response in
            server.noteExitRefusal(source: source, sourceName: agent, exit: exit.name, target: target,
                                   status: response.status.description, reason: response.reason)
        }
        let previous = server.onReload
        server.onReload = { [weak exit] policy in
            let before = previous?(policy) ?? 0
            guard let exit else { return before }
            exit.name = policy.relayExit?.name ?? "relay"
            return before + exit.recheck()
        }
        return exit
    }
}
