#if canImport(Glibc)
import Glibc
#endif
import AirlockIO
import AirlockNet

/// One `airlock bench` run: the phases in order, each result kept for the figures that compare
/// against it, and the report. See `BenchCommand.help` and docs/performance.md.
final class BenchRun {
    let s: BenchCommand.Settings
    var report = BenchReport()
    private var step = 0
    private let steps: Int

    // Results the figures are made from (nil: phase not run).
    var cipher: BenchCipher.Measurement?
    var forwarder: BenchForwarder.Measurement?
    var veth: BenchSendReceive.Measurement?
    /// One plain TCP connection on 127.0.0.1, sender to receiver: one loopback hop.
    var loopback: BenchSendReceive.Measurement?
    var relay: BenchTransfer.Measurement?
    var py: BenchTransfer.Measurement?
    var stream: BenchPath.Stream?
    var slirp: BenchSlirp.Measurement?
    /// Microseconds: over an existing circuit, with a new circuit.
    var latency: (existing: [Int], fresh: [Int])?
    var scale: BenchPath.Scale?
    var memory: (circuits: BenchIdle.Measurement, connections: BenchIdle.Measurement)?

    init(_ s: BenchCommand.Settings) {
        self.s = s
        steps = BenchCommand.phases.filter { s.phases.contains($0) }.count
    }

    func progress(_ text: String) {
        step += 1
        BenchCommand.progress("\(step)/\(steps) \(text)")
    }

    /// Why privileged phases cannot run here, or nil when they can.
    static func privilegeProblem() -> String? {
        if geteuid() != 0 { return "needs root (namespaces, veths, agents)" }
        if let e = NetworkNamespace.creationProbe() { return "cannot create network namespaces: \(e)" }
        return nil
    }

    /// Records a phase that did not run; under CI=true that is a failure.
    func skip(_ phase: String, _ why: String) throws {
        if let ci = getenv("CI"), String(cString: ci) == "true" {
            throw CommandFailure("bench: the \(phase) phase cannot run here (\(why)); under CI=true nothing may be skipped")
        }
        report.skipped.append((phase, why))
        BenchCommand.progress("skipping \(phase): \(why)")
    }

    func measure() throws -> BenchReport {
        _ = try? raiseOpenFileLimit()
        BenchCleanup.shared.arm()
        let binary = try BenchCommand.selfExecutable()
        let dir = try BenchTempDir()
        let loopThread: EventLoopThread
        do { loopThread = try EventLoopThread(name: "bench-peers") } catch { throw CommandFailure("bench: cannot start the event loop: \(error)") }
        defer { loopThread.stopAndJoin() }
        let loop = loopThread.loop
        let privileged = BenchRun.privilegeProblem()
        if privileged == nil {
            let stale = BenchCleanup.sweep()
            if !stale.isEmpty { BenchCommand.progress("removed namespaces an earlier run left: \(stale.joined(separator: ", "))") }
            let cgroups = BenchCleanup.sweepCgroups()
            if !cgroups.isEmpty { BenchCommand.progress("removed cgroups an earlier run left: \(cgroups.joined(separator: ", "))") }
        }

        report.machine = [("cores", "\(BenchProbe.cores)"), ("cpu", BenchProbe.cpuModel), ("kernel", BenchCommand.kernelRelease()),
                          ("load_average", BenchRun.loadAverage())]
        report.parameters = [("bytes", "\(s.bytes)"), ("py_bytes", "\(s.pyBytes)"), ("latency", "\(s.latency)"), ("scale", "\(s.scale)"),
                             ("circuits", "\(s.circuits)"), ("connections", "\(s.connections)"), ("quick", s.quick ? "true" : "false"),
                             ("phases", BenchCommand.phases.filter { s.phases.contains($0) }.joined(separator: ",")),
                             ("namespace_prefix", BenchCleanup.prefix), ("hub_prefix", BenchCleanup.hubPrefix)]
        let mib = BenchCommand.mib(s.bytes)

        if s.phases.contains("ceiling") {
            progress("ceiling: ChaCha20-Poly1305 on one core, \(s.cipherSeconds) s per direction")
            cipher = try BenchCipher.measure(seconds: s.cipherSeconds)
        }
        if s.phases.contains("forwarder") {
            progress("forwarder: plain TCP forwarder on 127.0.0.1, and one plain connection, \(mib) each")
            forwarder = try BenchForwarder.measure(bytes: s.bytes)
            let (a, b) = try BenchForwarder.loopbackPair()
            defer { close(a); close(b) }
            loopback = try BenchSendReceive.run(senderFD: a, receiverFD: b, bytes: s.bytes, what: "loopback TCP")
        }
        if s.phases.contains("veth") {
            progress("veth: raw TCP between two namespaces, \(mib)")
            if let why = privileged { try skip("veth", why) } else { veth = try BenchVeth.measure(bytes: s.bytes) }
        }
        if s.phases.contains("relay") {
            progress("relay: \(mib) from a client peer through a relay child to a service peer")
            relay = try BenchTransfer.run(binary: binary, dir: dir.path, loop: loop, bytes: s.bytes)
        }
        if s.phases.contains("py") {
            progress("py: \(BenchCommand.mib(s.pyBytes)) through the py-libp2p relay")
            switch BenchPyRelay.locate(binary: binary) {
            case .failure(let why): try skip("py", why.description)
            case .success(let (python, script)):
                py = try BenchPyRelay.measure(python: python, script: script, dir: dir.path, loop: loop, bytes: s.pyBytes)
            }
        }
        let onPath = ["path", "latency", "scale"].filter { s.phases.contains($0) }
        if !onPath.isEmpty {
            if let why = privileged {
                for p in onPath { progress("\(p)"); try skip(p, why) }
            } else {
                try pathPhases(binary: binary, dir: dir, loop: loop)
            }
        }
        if s.phases.contains("memory") {
            progress("memory: \(s.connections) idle connections and \(s.circuits) circuits, each to a fresh relay")
            let perConnection = try BenchIdle.connections(binary: binary, dir: dir.path, loop: loop, count: s.connections)
            let perCircuit = try BenchIdle.circuits(binary: binary, dir: dir.path, loop: loop, count: s.circuits)
            memory = (perCircuit, perConnection)
        }
        if s.phases.contains("slirp") {
            progress("slirp: \(mib) from a namespace through slirp4netns to 127.0.0.1")
            if let why = privileged { try skip("slirp", why) } else if let tool = BenchSlirp.available() {
                slirp = try BenchSlirp.measure(slirp: tool, dir: dir.path, bytes: s.bytes)
            } else { try skip("slirp", "slirp4netns is not installed (apt-get install slirp4netns, or make deps)") }
        }
        addFigures()
        return report
    }

    /// path, latency and scale share one relay with its hub, the two services and the targets.
    private func pathPhases(binary: String, dir: BenchTempDir, loop: EventLoop) throws {
        BenchCommand.progress("building the path: a relay with its hub, two services (airlock expose)")
        let path = try BenchPath(binary: binary, dir: dir, loop: loop)
        defer { path.stop() }
        if s.phases.contains("path") {
            progress("path: \(BenchCommand.mib(s.bytes)) from an agent namespace through shim, relay and service to a sink")
            stream = try path.stream(bytes: s.bytes)
        }
        if s.phases.contains("latency") {
            progress("latency: \(s.latency) connections over an agent's circuit, \(s.latency) new circuits")
            let existing = try path.streamOpenLatency(count: s.latency)
            let fresh = try circuitLatency(path, loop: loop)
            latency = (existing, fresh)
        }
        if s.phases.contains("scale") {
            let perAgent = s.quick ? 50 : 1000
            progress("scale: \(s.scale) concurrent connections from \((s.scale + perAgent - 1) / perAgent) agents")
            scale = try path.scale(total: s.scale, perAgent: perAgent)
        }
    }

    private func circuitLatency(_ path: BenchPath, loop: EventLoop) throws -> [Int] {
        let box = LoopBox<BenchCircuitLatency>()
        defer {
            let done = BenchWait<Bool>()
            loop.execute { box.value?.shutdown(); box.value = nil; done.finish(true) }
            _ = done.wait(seconds: 10)
        }
        let result = BenchWait<Result<[Int], CommandFailure>>()
        let key = path.clientKey, address = path.relay.address, peer = path.relay.peerID, target = path.echoPeer, n = s.latency
        loop.execute {
            let c = BenchCircuitLatency(loop: loop, key: key, relay: address, relayPeer: peer)
            box.value = c
            c.run(count: n, target: target) { result.finish($0) }
        }
        guard let r = result.wait(seconds: 60 + Double(n) / 10) else {
            throw CommandFailure("bench: new-circuit latency did not finish\n\(BenchRelay.tail(path.relay.logPath))")
        }
        return try r.get()
    }

    static func loadAverage() -> String {
        (BenchProbe.readText("/proc/loadavg") ?? "").split(separator: " ").prefix(3).joined(separator: " ")
    }
}
