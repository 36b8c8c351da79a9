#if canImport(Glibc)
import Glibc
#endif
import AirlockCore
import AirlockIO

/// A run's bounds (`airlock run --timeout --memory --pids --cpu --kill-on-deny`): its cgroup,
/// made before the command starts and removed when the run ends, and its refused connections.
/// The shim is never in the cgroup: it is a separate spawn, outside the agent's limits.
extension AgentManager {
    /// What bounds one run while it lives.
    final class RunBounds {
        let limits: RunLimits
        var plan: CgroupPlan
        var cgroup: RunCgroup?
        /// CONNECTs of the run's peer the policy refused (`--kill-on-deny`).
        var refusals = 0
        /// Set once the relay killed the tree for `--kill-on-deny`: what the caller is told.
        var killReason: String?
        /// Just before the command was spawned (for telling a `--timeout` apart).
        var started: MonotonicTime?
        init(limits: RunLimits, plan: CgroupPlan) { self.limits = limits; self.plan = plan }
    }

    /// The run's limits planned on this machine's layout. Refuses, before anything is built, a
    /// limit the layout cannot enforce.
    func bounds(for limits: RunLimits) throws(Refusal) -> RunBounds {
        do { return RunBounds(limits: limits, plan: try cgroupLayout.plan(limits)) } catch { throw Refusal(error.description) }
    }

    /// Makes the run's cgroup (when its plan needs one) and fills the spawn spec with it: the
    /// init joins it before it forks the command.
    func makeCgroup(for run: Run, spec: inout ProcessSpec) throws(Refusal) {
        guard let b = run.bounds else { return }
        spec.timeoutMilliseconds = b.plan.timeoutMilliseconds
        b.started = .now()  // before the init's own clock starts, so its deadline is never earlier
        guard b.plan.needsCgroup else { return }
        let cg: RunCgroup
        do { cg = try RunCgroup.create(b.plan, prefix: hub.prefix, name: run.name) } catch {
            // No limit needs it and the PID namespace still kills the tree: run without, and say so.
            guard b.plan.isOnlyKillSwitch else { throw Refusal("cannot make the run's cgroup: \(error)") }
            logger.warn("cgroup_unavailable", ["run": run.name, "reason": "\(error)"])
            b.plan = b.plan.withoutCgroup()
            return
        }
        b.cgroup = cg
        cg.apply(to: &spec)
    }

    /// The command started: the init holds its own copies of the cgroup descriptors.
    func cgroupSpawned(_ run: Run) {
        guard let b = run.bounds else { return }
        b.cgroup?.closeSpawnDescriptors()
        logger.info("run_limits", ["run": run.name, "limits": b.plan.description,
                                   "cgroup": b.cgroup?.leaves.joined(separator: ",") ?? "-"])
    }

    /// Adopts the cgroup of a run that outlived its relay, when `pid` (its init) is in it; its
    /// limits stay with its init, `--kill-on-deny` is not known any more.
    func adoptCgroup(for run: Run, named name: String, pid: Int32) {
        guard let cg = RunCgroup.adopt(cgroupLayout, prefix: hub.prefix, name: name), cg.holds(pid: pid) else { return }
        let b = RunBounds(limits: RunLimits(), plan: cg.plan)
        b.cgroup = cg
        run.bounds = b
    }

    /// Why a limit or the relay killed the run, for its `exited` reply (logged `run_killed` for
    /// a limit); nil when neither did. Call before `end`, while the counters are there.
    func limitReached(_ run: Run, _ status: AgentProcess.ExitStatus?) -> String? {
        guard let b = run.bounds else { return nil }
        if let r = b.killReason { return r }
        guard status?.code == 137 else { return nil }
        var reason = b.cgroup?.reachedLimit()
        if reason == nil, let t = b.limits.timeout, let s = b.started, s.nanoseconds(until: .now()) >= UInt64(t * 1e9) {
            reason = .timeout
        }
        guard let reason else { return nil }
        let text = "\(b.limits.option(reason)) reached: the agent's tree was killed"
        logger.warn("run_killed", ["run": run.name, "agent": run.agent, "reason": text])
        return text
    }

    /// `cgroup.kill`: every process of the run at once (before its init is killed).
    func killCgroup(_ run: Run) {
        run.bounds?.cgroup?.kill()
    }

    /// Removes the run's cgroup once its processes are gone; a leaf still busy (processes not
    /// yet reaped) is retried on a timer for up to 5 s.
    func removeCgroup(_ run: Run) {
        guard let b = run.bounds, let cg = b.cgroup else { return }
        b.cgroup = nil
        for _ in 0..<20 {
            if cg.remove().isEmpty { return }
            usleep(5_000)
        }
        cgroupsLeft.append(cg)
        retryRemoval(cg, attempts: 100)
    }

    private func retryRemoval(_ cg: RunCgroup, attempts: Int) {
        hub.host.loop.schedule(after: .milliseconds(50)) { [weak self] in
            guard let self, self.cgroupsLeft.contains(where: { $0 === cg }) else { return }
            let left = cg.remove()
            if !left.isEmpty && attempts > 1 { return self.retryRemoval(cg, attempts: attempts - 1) }
            self.cgroupsLeft.removeAll { $0 === cg }
            if !left.isEmpty { self.logger.error("cgroup_remove_failed", ["cgroup": left.joined(separator: ","), "reason": "still busy after 5 s"]) }
        }
    }

    /// At start: removes the empty leaves a crashed relay with this prefix left; busy ones
    /// belong to runs that may reattach.
    func sweepCgroups() {
        let (removed, kept) = RunCgroup.sweep(cgroupLayout, prefix: hub.prefix)
        guard !removed.isEmpty || !kept.isEmpty else { return }
        logger.info("cgroups_swept", ["removed": removed.isEmpty ? "-" : removed.joined(separator: ","),
                                      "kept": kept.isEmpty ? "-" : kept.joined(separator: ",")])
    }

    /// At stop: the last removals, then `airlock-<prefix>` wherever no suspended run keeps a leaf.
    func stopCgroups() {
        for cg in cgroupsLeft { cg.remove() }
        cgroupsLeft = []
        RunCgroup.removeParents(cgroupLayout, prefix: hub.prefix)
    }

    /// A name a new run may take: no run, attachment or leftover cgroup has it.
    func cgroupTaken(_ name: String) -> Bool { RunCgroup.exists(cgroupLayout, prefix: hub.prefix, name: name) }

    // MARK: --kill-on-deny

    /// The relay refused a CONNECT of `source` for a policy reason: counted against the run of
    /// that peer; at its `--kill-on-deny` the run's tree is killed (its `exited` says why).
    func policyRefused(source: PeerID, target name: String, reason: String) {
        guard let run = runs.values.first(where: { $0.peer == source && !$0.ended }), let b = run.bounds,
              let n = b.limits.killOnDeny, b.killReason == nil else { return }
        b.refusals += 1
        guard b.refusals >= n, let command = run.command else { return }
        let why = "\(b.refusals) refused connection attempts (last: \(name), \(reason))"
        b.killReason = "\(b.limits.killOnDenyOption) reached: the agent's tree was killed after \(why)"
        logger.warn("run_killed", ["run": run.name, "agent": run.agent, "peer": run.peer, "reason": "kill-on-deny: \(why)"])
        b.cgroup?.kill()
        command.kill()
    }
}
