#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockCrypto
import AirlockIO
import AirlockNet
import AirlockPolicy
import AirlockRelay
internal import CAirlockShims

extension AgentManager {
    // MARK: run

    func run(_ r: ControlProtocol.RunRequest, from caller: ControlPeer, fds: inout [Int32]) throws {
        guard fds.count == r.descriptorCount else {
            throw Refusal("run needs \(r.descriptorCount) descriptors (stdin, stdout, stderr, working directory, lifeline\(r.key ? ", key" : "")\(r.rw.isEmpty && r.ro.isEmpty ? "" : ", one per --rw and --ro path")), got \(fds.count)")
        }
        guard !r.command.isEmpty else { throw Refusal("no command given") }
        guard !runs.values.contains(where: { $0.caller?.id == caller.id }) else { throw Refusal("this connection already has a run") }
        guard Self.isSeqpacketSocket(fds[4]) else { throw Refusal("the lifeline must be a SOCK_SEQPACKET socket") }
        guard !r.terminal || isatty(fds[0]) == 1 else { throw Refusal("a run with a terminal needs a terminal as stdin") }
        // Root through sudo: the default agent is the sudo user's.
        let owner = caller.uid == 0 ? r.environment["SUDO_UID"].flatMap(AgentUser.parseID) : nil
        let agent = try authorise(r.agent, caller: caller, owner: owner)
        let key = try identity(for: agent, keyFD: r.key ? fds[5] : nil)
        let scope = try scope(r.allow, agent: agent, caller: caller)
        let user: AgentUser
        do {
            user = caller.uid == 0 ? try AgentUser.resolve(sudoEnv: r.environment)
                                   : try AgentUser(uid: caller.uid, gid: caller.gid)
        } catch { throw Refusal("\(error)") }
        let forwards = try Self.forwards(r.forward, policy: server.policy)
        let grantFDs = Array(fds[(r.key ? 6 : 5)...])
        let sandbox = try Self.sandbox(r, stdin: fds[0], workdir: fds[3], grants: grantFDs)
        // The pty airlock run made for this run (root's, through sudo) becomes the agent's, so it can
        // reopen its own terminal by name.
        if r.terminal && caller.uid == 0 { _ = fchown(fds[0], user.uid, gid_t.max) }
        // Limits this machine cannot enforce stop the run here, before anything is built.
        let bounds = try bounds(for: r.limits)
        // Resolve the program now, so a typo fails before anything is built.
        let env = Self.environment(r.environment, user: user, callerUID: caller.uid)
        var spec: ProcessSpec
        do {
            spec = try ProcessSpec(command: r.command, environment: env, user: user,
                                   network: try NetworkNamespace.ofProcess())
        } catch { throw Refusal("\(error)") }
        // The caller's pty becomes the command's controlling terminal, in its own session.
        spec.controllingTerminal = r.terminal

        let run = Run(name: attachmentName(for: agent.name), agent: agent.name, peer: PeerID(publicKey: key.publicKey),
                      isRun: true, caller: caller)
        run.bounds = bounds
        run.heldFDs = Array(fds[0..<4]) + grantFDs  // the mount steps borrow the grants' descriptors
        run.lifeline = fds[4]
        fds.removeSubrange(0..<5)  // the run owns them now
        fds.removeAll { grantFDs.contains($0) }
        try start(run, key: key, scope: scope, forwards: forwards) { [weak self, unowned run] ns in
            guard let self else { return }
            spec.network = ns
            spec.stdin = run.heldFDs[0]; spec.stdout = run.heldFDs[1]; spec.stderr = run.heldFDs[2]
            spec.workingDirectoryDescriptor = run.heldFDs[3]
            spec.mounts = sandbox.steps
            spec.workingDirectory = sandbox.workingDirectory
            spec.lifeline = run.lifeline
            spec.lifelineCarriesSignals = true
            spec.seccomp = true  // the agent's command only; the shim (startShim) needs no filter of its own
            do throws(Refusal) { try self.makeCgroup(for: run, spec: &spec) } catch { return self.fail(run, error.message) }
            let command: AgentProcess
            do throws(SpawnError) {
                command = try AgentProcess.spawn(spec)
            } catch {
                return self.fail(run, "cannot start \(r.command[0]): \(error)" + Self.hint(error, command: r.command[0], user: user,
                                                                                      workdir: sandbox.workingDirectory))
            }
            run.command = command
            self.cgroupSpawned(run)
            run.heldFDs.forEach { _ = close($0) }
            run.heldFDs = []
            close(run.lifeline)
            run.lifeline = -1
            self.watch(run)
            self.logger.info("run_started", ["run": run.name, "agent": run.agent, "peer": run.peer, "uid": user.uid,
                                             "command": r.command[0], "pid": command.pid])
            // The namespace and both pidfds go to the caller, for `reattach` after a relay restart.
            self.reply(caller, "started", self.started(run), fds: [ns.descriptor, command.pidfd, run.shim?.pidfd ?? -1].filter { $0 >= 0 })
        }
    }

    /// What to do about a start that failed for a reason the sandbox makes likely: a working
    /// directory the agent's user may not enter, or a program in the host's /tmp, which the
    /// sandbox replaces with a private one.
    static func hint(_ error: SpawnError, command: String, user: AgentUser, workdir: String) -> String {
        guard case .system(let stage, _, let code) = error else { return "" }
        let name = getpwuid(user.uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(user.uid)"
        if stage == .chdir && (code == EACCES || code == EPERM) {
            return " (the command runs as \(name), who may not enter \(workdir); give --workdir a directory \(name) may use)"
        }
        if stage == .execve && code == ENOENT && ["/tmp/", "/var/tmp/", "/dev/shm/"].contains(where: { command.hasPrefix($0) }) {
            return " (the sandbox has a private /tmp and /var/tmp: put the program in the working directory, or run it from a directory you grant)"
        }
        if stage == .execve && code == EACCES {
            return " (the command runs as \(name), who may not execute it)"
        }
        return ""
    }

    /// The sandbox for a run: its working directory (descriptor 3) and `--rw`/`--ro` paths
    /// (`grants`, rw first), by the paths the descriptors have in the relay's view.
    static func sandbox(_ r: ControlProtocol.RunRequest, stdin: Int32, workdir: Int32, grants: [Int32]) throws(Refusal) -> SandboxPlan {
        do {
            let work = try SandboxPlan.grant(descriptor: workdir, writable: true)
            guard work.isDirectory else { throw SandboxError("the working directory is not a directory") }
            var given: [SandboxPlan.Grant] = []
            for (i, fd) in grants.enumerated() {
                let writable = i < r.rw.count
                let name = writable ? r.rw[i] : r.ro[i - r.rw.count]
                do { given.append(try SandboxPlan.grant(descriptor: fd, writable: writable)) } catch {
                    throw SandboxError("--\(writable ? "rw" : "ro") \(name): \(error)")
                }
            }
            return try SandboxPlan(workdir: work, grants: given, resolvConfPath: SandboxPlan.resolvConfTarget(),
                                   terminal: r.terminal ? stdin : nil)
        } catch { throw Refusal("\(error)") }
    }

    /// The command's environment: the caller's, with the proxy variables pointing at the shim,
    /// and HOME and USER of the user it runs as when that is not the caller (root running it).
    static func environment(_ given: [String: String], user: AgentUser) -> [String: String] {
        var env = given
        for k in ["SUDO_UID", "SUDO_GID", "SUDO_USER", "SUDO_COMMAND"] { env[k] = nil }
        let http = "http://127.0.0.1:3128", socks = "socks5h://127.0.0.1:1080", none = "localhost,127.0.0.1,::1"
        for (k, v) in [("HTTP_PROXY", http), ("HTTPS_PROXY", http), ("ALL_PROXY", socks), ("NO_PROXY", none)] {
            env[k] = v
            env[k.lowercased()] = v
        }
        if env["PATH"] == nil { env["PATH"] = ProcessSpec.defaultSearchPath }
        return env
    }

    /// For a run as another user than the caller (root's, through sudo or as airlock-agent): that
    /// user's HOME, USER and LOGNAME (HOME is the sandbox's private /tmp when its own does not
    /// exist, as for airlock-agent), and no PATH entries under /root, which it cannot search.
    static func environment(_ given: [String: String], user: AgentUser, callerUID: UInt32) -> [String: String] {
        var env = environment(given, user: user)
        guard callerUID != user.uid, let pw = getpwuid(user.uid) else { return env }
        let name = String(cString: pw.pointee.pw_name), home = String(cString: pw.pointee.pw_dir)
        var st = stat()
        env["HOME"] = stat(home, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR ? home : "/tmp"
        env["USER"] = name
        env["LOGNAME"] = name
        let path = (env["PATH"] ?? "").split(separator: ":").filter { $0 != "/root" && !$0.hasPrefix("/root/") }
        env["PATH"] = path.isEmpty ? ProcessSpec.defaultSearchPath : path.joined(separator: ":")
        return env
    }

    /// `--forward PORT=SERVICE` values: well-formed, naming a service of the policy, on distinct
    /// ports that are not the shim's own (1080, 3128).
    static func forwards(_ given: [String], policy: Policy) throws(Refusal) -> [ShimConfig.Forward] {
        var out: [ShimConfig.Forward] = []
        for f in given {
            let forward: ShimConfig.Forward
            do { forward = try ShimConfig.parseForward(f) } catch { throw Refusal(error.description) }
            guard policy.service(named: forward.service) != nil else {
                throw Refusal("--forward \(f): \(forward.service) is not a service in the policy")
            }
            guard ![1080, 3128].contains(forward.listen.port) else {
                throw Refusal("--forward \(f): port \(forward.listen.port) is the shim's own (SOCKS5 1080, HTTP 3128); pick another")
            }
            guard !out.contains(where: { $0.listen == forward.listen }) else { throw Refusal("--forward \(f): \(forward.listen) is forwarded twice") }
            out.append(forward)
        }
        return out
    }

    static func isSeqpacketSocket(_ fd: Int32) -> Bool {
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == Int32(SOCK_SEQPACKET.rawValue)
    }

    // MARK: reattach

    /// A run that outlived a relay gets its link back: the same checks as `run`, the address its
    /// shim dials, and the processes it already has (no new shim, no new command).
    func reattach(_ r: ControlProtocol.ReattachRequest, from caller: ControlPeer, fds: inout [Int32]) throws {
        guard fds.count == 3 else { throw Refusal("reattach needs the namespace and two pidfds as descriptors, got \(fds.count)") }
        guard !runs.values.contains(where: { $0.caller?.id == caller.id }) else { throw Refusal("this connection already has a run") }
        let agent = try authorise(r.agent, caller: caller)
        let peer: PeerID
        do { peer = try PeerID(r.peer) } catch { throw Refusal("peer \(r.peer): \(error)") }
        try checkIdentity(peer, for: agent)
        guard let address = IPv4Address(r.agentAddress) else { throw Refusal("agentAddress \(r.agentAddress) is not an IPv4 address") }
        let scope = try scope(r.allow, agent: agent, caller: caller)
        let ns: NetworkNamespace
        do { ns = try NetworkNamespace.adopt(descriptor: fds.removeFirst(), label: "run \(r.name)") } catch { throw Refusal("\(error)") }
        let command: AdoptedProcess, shim: AdoptedProcess
        do {
            command = try AdoptedProcess(pidfd: fds.removeFirst(), in: ns.id, uid: caller.uid == 0 ? nil : caller.uid)
            shim = try AdoptedProcess(pidfd: fds.removeFirst(), in: ns.id, uid: try AgentUser.shim().uid)
        } catch { throw Refusal("\(error)") }

        let run = Run(name: attachmentName(for: agent.name, preferring: r.name), agent: agent.name, peer: peer, isRun: true, caller: caller)
        do { _ = try hub.attach(name: run.name, peer: peer, netns: ns, agentAddress: address) } catch { throw Refusal("\(error)") }
        runs[run.name] = run
        run.command = command
        run.shim = shim
        adoptCgroup(for: run, named: r.name, pid: command.pid)
        bind(run, scope: scope)
        watchShim(run, shim)
        watch(run)
        logger.info("run_reattached", ["run": run.name, "agent": run.agent, "peer": peer, "uid": caller.uid, "pid": command.pid])
        reply(caller, "reattached", started(run))
    }

    // MARK: attach and detach

    func attach(_ r: ControlProtocol.AttachRequest, from caller: ControlPeer, fds: inout [Int32]) throws {
        guard fds.count == (r.key ? 2 : 1) else { throw Refusal("attach needs the namespace\(r.key ? " and the key" : "") as descriptors, got \(fds.count)") }
        let agent = try authorise(r.agent, caller: caller)
        let key = try identity(for: agent, keyFD: r.key ? fds[1] : nil)
        let ns: NetworkNamespace
        do { ns = try NetworkNamespace.adopt(descriptor: fds.removeFirst(), label: r.label) } catch { throw Refusal("\(r.label): \(error)") }
        let run = Run(name: attachmentName(for: agent.name), agent: agent.name, peer: PeerID(publicKey: key.publicKey),
                      isRun: false, caller: nil)
        try start(run, key: key, scope: nil, forwards: [], namespace: ns) { [weak self, unowned run] _ in
            guard let self else { return }
            self.logger.info("attached", ["run": run.name, "agent": run.agent, "peer": run.peer, "netns": r.label])
            self.reply(caller, "attached", self.started(run))
        }
    }

    func detach(_ r: ControlProtocol.DetachRequest, from caller: ControlPeer) throws {
        guard let run = runs[r.name] else { throw Refusal("nothing named \(r.name) is attached") }
        guard let agent = server.policy.agent(named: run.agent) else { throw Refusal("agent \(run.agent) is no longer in the policy") }
        guard caller.uid == 0 || caller.uid == agent.uid else {
            throw Refusal("\(r.name) runs agent \(run.agent), which belongs to uid \(agent.uid), not to uid \(caller.uid)")
        }
        end(r.name, reason: "detached by uid \(caller.uid)", notify: true)
        reply(caller, "detached", ControlProtocol.DetachRequest(name: r.name))
    }

    // MARK: building a run

    /// Attaches the namespace, binds the identity, starts the shim and, once it is listening,
    /// calls `ready` with the namespace. Throws (with nothing left) when a step before the shim's
    /// start fails; later failures end the run and tell the caller.
    private func start(_ run: Run, key: Ed25519PrivateKey, scope: Policy.RunScope?, forwards: [ShimConfig.Forward],
                       namespace: NetworkNamespace? = nil, ready: @escaping (NetworkNamespace) -> Void) throws {
        let link: AgentLink
        do { link = try hub.attach(name: run.name, peer: run.peer, netns: namespace) } catch { throw Refusal("\(error)") }
        runs[run.name] = run
        bind(run, scope: scope)
        guard let ns = hub.namespace(of: run.name) else { return fail(run, "the hub lost \(run.name)") }
        do {
            try startShim(run, key: key, link: link, namespace: ns, forwards: forwards, ready: ready)
        } catch {
            fail(run, "cannot start the shim: \(error)")
        }
    }

    /// Registers the run's identity (per-run agents) and its `--allow` scope with the relay server.
    private func bind(_ run: Run, scope: Policy.RunScope?) {
        if case .perRun = server.policy.agent(named: run.agent)?.identity { server.bindings.bind(run.peer, to: run.agent) }
        server.runScopes[run.peer] = scope
    }

    private func startShim(_ run: Run, key: Ed25519PrivateKey, link: AgentLink, namespace ns: NetworkNamespace,
                           forwards: [ShimConfig.Forward], ready: @escaping (NetworkNamespace) -> Void) throws {
        var args = ["airlock", "shim", "--relay", "\(link.hubAddress):\(link.port)", "--relay-peer", "\(hub.host.peerID)", "--key-stdin"]
        for s in server.policy.services.sorted(by: { $0.name < $1.name }) { args += ["--service", "\(s.name)=\(s.peer)"] }
        for f in forwards { args += ["--forward", "\(f.listen)=\(f.service)"] }
        for e in exits(for: run) { args += ["--exit", "\(e.name)=\(e.location)"] }
        var keyPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1]
        guard airlock_pipe2(&keyPipe, O_CLOEXEC) == 0 else { throw Errno(rawValue: errno) }
        defer { close(keyPipe[0]); if keyPipe[1] >= 0 { close(keyPipe[1]) } }
        guard airlock_pipe2(&outPipe, O_CLOEXEC | O_NONBLOCK) == 0 else { throw Errno(rawValue: errno) }
        defer { close(outPipe[1]) }
        run.shimOutput = outPipe[0]

        var text = KeyFile.render(key)
        defer { Sodium.wipe(&text) }
        let written = text.withUnsafeBytes { write(keyPipe[1], $0.baseAddress, $0.count) }
        guard written == text.count else { throw Refusal("cannot hand the shim its key") }
        close(keyPipe[1]); keyPipe[1] = -1

        var spec = try ProcessSpec(command: ["/proc/self/exe"] + args.dropFirst(), environment: ["PATH": ProcessSpec.defaultSearchPath],
                                   user: try AgentUser.shim(), network: ns)
        spec.arguments[0] = "airlock"
        spec.executableDescriptor = executable
        spec.stdin = keyPipe[0]; spec.stdout = outPipe[1]; spec.stderr = 2
        // A run's shim lives as long as the run's lifeline; an attachment's as long as the relay.
        if run.lifeline >= 0 { spec.lifeline = run.lifeline }
        let shim = try AgentProcess.spawn(spec)
        run.shim = shim

        try hub.host.loop.register(run.shimOutput, interest: .read) { [weak self, unowned run] _ in
            self?.readShim(run, ready: { ready(ns) })
        }
        run.shimTimer = hub.host.loop.schedule(after: .milliseconds(Int64(shimStartTimeout * 1000))) { [weak self, weak run] in
            guard let self, let run, !run.ended else { return }
            run.shimTimer = nil
            self.fail(run, "the shim did not start within \(self.shimStartTimeout) s")
        }
        watchShim(run, shim)
    }

    /// The exits the shim asks, in turn, for targets that are not services: those the run's
    /// agent has a rule to first (in the policy's order), then the policy's other exits, so that
    /// a rule added while the run lasts applies to it at once (each exit asks the policy anyway);
    /// without those its `--allow` list leaves out. Exits added to the policy later are not
    /// known to the shim.
    func exits(for run: Run) -> [Policy.Exit] {
        let policy = server.policy
        let only = server.runScopes[run.peer]?.only
        let ruled = policy.exitRules(for: run.agent).map(\.to)
        let ordered = ruled.compactMap { policy.exit(named: $0) } + policy.exits.filter { !ruled.contains($0.name) }
        return ordered.filter { only?.contains($0.name) ?? true }
    }

    /// Reads the shim's stdout until its `shim ready` line, then calls `ready` once.
    private func readShim(_ run: Run, ready: () -> Void) {
        var buf = [UInt8](repeating: 0, count: 512)
        while !run.ended {
            let n = buf.withUnsafeMutableBytes { read(run.shimOutput, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return }  // EAGAIN: wait for more
            if n == 0 { closeShimOutput(run); return }
            guard run.shimTimer != nil else { continue }  // already ready: drain and ignore
            run.shimLine += buf[0..<n]
            if run.shimLine.count > 4096 { return fail(run, "the shim printed no ready line") }
            if let nl = run.shimLine.firstIndex(of: 10) {
                let line = String(decoding: run.shimLine[..<nl], as: UTF8.self)
                guard line.hasPrefix("shim ready") else { return fail(run, "the shim said: \(line)") }
                if let t = run.shimTimer { _ = hub.host.loop.cancel(t) }
                run.shimTimer = nil
                logger.info("shim_ready", ["run": run.name, "pid": run.shim?.pid ?? 0])
                // Its stdout is of no more use, and a relay that stops must not leave it a
                // pipe without a reader.
                closeShimOutput(run)
                ready()
                return
            }
        }
    }

    private func closeShimOutput(_ run: Run) {
        guard run.shimOutput >= 0 else { return }
        hub.host.loop.deregister(run.shimOutput)
        close(run.shimOutput)
        run.shimOutput = -1
    }

    private func watchShim(_ run: Run, _ shim: RunProcess) {
        do {
            try hub.host.loop.register(shim.pidfd, interest: .read) { [weak self, weak run] _ in
                guard let self, let run, !run.ended else { return }
                let status = (shim as? AgentProcess)?.exitStatus.map { "\($0)" } ?? "ended"
                self.fail(run, "the shim \(status)")
            }
        } catch { fail(run, "cannot watch the shim: \(error)") }
    }

    func watch(_ run: Run) {
        guard let command = run.command else { return }
        do {
            try hub.host.loop.register(command.pidfd, interest: .read) { [weak self, weak run] _ in
                guard let self, let run, !run.ended else { return }
                let status = (command as? AgentProcess)?.exitStatus
                let killed = self.limitReached(run, status)  // before `end` removes the cgroup's counters
                self.logger.info("run_exited", ["run": run.name, "status": status?.description ?? "ended"])
                // Torn down first, so that when `airlock run` returns nothing of the run is left.
                self.end(run.name, reason: killed ?? "command \(status?.description ?? "ended")", notify: false)
                if let caller = run.caller {
                    self.reply(caller, "exited", ControlProtocol.Exited(code: status?.code ?? -1, description: killed ?? status?.description ?? "ended"))
                }
            }
        } catch { fail(run, "cannot watch the command: \(error)") }
    }

    func started(_ run: Run) -> ControlProtocol.Started {
        let link = hub.agent(named: run.name)
        return ControlProtocol.Started(name: run.name, agent: run.agent, peer: "\(run.peer)", netns: link?.netnsName,
                                       agentAddress: link.map { "\($0.agentAddress)" } ?? "-",
                                       hubAddress: link.map { "\($0.hubAddress):\($0.port)" } ?? "-")
    }

    // MARK: ending

    /// Ends a run that failed while starting or running, telling its caller why.
    func fail(_ run: Run, _ message: String) {
        guard !run.ended else { return }
        logger.warn("run_failed", ["run": run.name, "reason": message])
        if let caller = run.caller { reply(caller, "error", ControlProtocol.Failure(message: message)) }
        end(run.name, reason: message, notify: false)
        if let caller = run.caller { control?.disconnect(caller) }
    }

    /// A control connection closed: a run whose launcher went away ends (its lifeline has
    /// closed too, so its processes are ending already).
    func callerGone(_ peer: ControlPeer, _ reason: ControlServer.DisconnectReason) {
        guard let run = runs.values.first(where: { $0.caller?.id == peer.id }) else { return }
        end(run.name, reason: "launcher gone (\(reason))", notify: false)
    }

    /// The relay is stopping under a running command: its link goes, its processes stay, and
    /// its caller is told so it can reattach to the next relay.
    func suspend(_ run: Run, reason: String) {
        guard runs.removeValue(forKey: run.name) != nil, !run.ended else { return }
        run.ended = true
        for p in [run.command, run.shim].compactMap({ $0 }) {
            hub.host.loop.deregister(p.pidfd)
            p.release()
        }
        server.bindings.unbind(run.peer)
        server.runScopes[run.peer] = nil
        do { try hub.detach(name: run.name) } catch { logger.error("detach_failed", ["run": run.name, "reason": "\(error)"]) }
        logger.info("run_suspended", ["run": run.name, "agent": run.agent, "reason": reason])
        if let caller = run.caller { reply(caller, "suspended", ControlProtocol.Suspended(reason: reason)) }
    }

    /// Kills what runs, unbinds, detaches from the hub. `notify`: tell a connected caller that
    /// its command ended because of this.
    func end(_ name: String, reason: String, notify: Bool) {
        guard let run = runs.removeValue(forKey: name), !run.ended else { return }
        run.ended = true
        let loop = hub.host.loop
        if let t = run.shimTimer { _ = loop.cancel(t) }
        closeShimOutput(run)
        killCgroup(run)  // the whole tree at once, before its init
        for p in [run.command, run.shim].compactMap({ $0 }) {
            loop.deregister(p.pidfd)
            p.kill()
            p.waitGone(timeoutMilliseconds: 2000)
        }
        removeCgroup(run)
        run.heldFDs.forEach { _ = close($0) }
        run.heldFDs = []
        if run.lifeline >= 0 { close(run.lifeline); run.lifeline = -1 }
        server.bindings.unbind(run.peer)
        server.runScopes[run.peer] = nil
        do { try hub.detach(name: name) } catch { logger.error("detach_failed", ["run": name, "reason": "\(error)"]) }
        logger.info("run_ended", ["run": name, "agent": run.agent, "reason": reason])
        if notify, let caller = run.caller {
            let status = (run.command as? AgentProcess)?.exitStatus
            reply(caller, "exited", ControlProtocol.Exited(code: status?.code ?? 137, description: "ended: \(reason)"))
        }
    }
}
