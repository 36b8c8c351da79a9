#if canImport(Glibc)
import Glibc
#endif
import AirlockIO

/// The phases run on the whole path (see `BenchPath`).
extension BenchPath {
    /// One stream from the agent program through shim, relay and service to the sink.
    struct Stream: Sendable {
        var bytes: Int
        /// From the sink's go byte to the sink's EOF.
        var wallSeconds: Double
        /// CPU seconds of each process over that time, in path order.
        var cpu: [(String, Double)]
        /// The agent program's own account of its CPU time (its thread, from go to acknowledgement).
        var probeSelfCPU: Double
        var bitsPerSecond: Double { Double(bytes) * 8 / wallSeconds }
        func perGiB(_ s: Double) -> Double { s * BenchReport.gib / Double(bytes) }
    }

    /// Runs the stream phase: the probe connects to the sink forward, the sink (this process)
    /// takes every process's CPU time, sends the go byte, checks every byte to EOF, takes the
    /// CPU times again and acknowledges.
    func stream(bytes: Int) throws -> Stream {
        let agent = try startAgent(["stream", "--port", "\(BenchPath.sinkPort)", "--bytes", "\(bytes)"], tag: "stream")
        defer { agent.stop() }
        let fd: Int32
        do { fd = try BenchSendReceive.accept(sinkListener, timeout: 60) } catch {
            throw agent.failure("never reached the sink: \(error)")
        }
        defer { close(fd) }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let (shims, probes) = agentProcesses()
        guard shims.count == 1, probes.count == 1 else {
            throw CommandFailure("bench: expected one shim and one probe below the relay, found \(shims.count) and \(probes.count)")
        }
        let roles: [(String, pid_t)] = [("agent program", probes[0]), ("shim", shims[0]), ("relay", relay.pid), ("service", sinkService.pid)]
        func times() -> [Double] { roles.map { BenchProbe.processCPU($0.1)?.total ?? .nan } }

        let received = BenchForwarder.Box(0), corrupt = BenchForwarder.Box(false)
        let end = BenchForwarder.Box(0.0), sinkCPU = BenchForwarder.Box(0.0)
        let before = times()
        let t0 = BenchProbe.wallSeconds()
        guard Output.writeAll(fd, [UInt8(ascii: "g")]) else { throw agent.failure("went away before the go byte") }
        let sink = try BenchThread(name: "bench-path-sink") {
            let c0 = BenchProbe.threadCPUSeconds()
            BenchSendReceive.receiveAll(fd, received: received, corrupt: corrupt)
            end.value = BenchProbe.wallSeconds()
            sinkCPU.value = BenchProbe.threadCPUSeconds() - c0
        }
        sink.join()
        let after = times()
        guard received.value == bytes, !corrupt.value else {
            throw agent.failure("sent \(received.value) of \(bytes) bytes through the path\(corrupt.value ? ", corrupted" : "")")
        }
        _ = Output.writeAll(fd, [UInt8(ascii: "k")])
        let line = try agent.readLine(timeout: 30, "stream result")
        guard line.contains("\"stream\""), agent.wait(timeout: 30) == 0 else { throw agent.failure("ended badly: \(line)") }
        var cpu = zip(roles, zip(before, after)).map { ($0.0.0, $0.1.1 - $0.1.0) }
        cpu.append(("sink", sinkCPU.value))
        guard cpu.allSatisfy({ $0.1.isFinite }) else { throw CommandFailure("bench: a process of the path ended during the transfer") }
        let selfCPU = line.range(of: "\"cpu_s\": ").flatMap { Double(line[$0.upperBound...].prefix { $0 != "}" && $0 != "," }) } ?? .nan
        return Stream(bytes: bytes, wallSeconds: end.value - t0, cpu: cpu, probeSelfCPU: selfCPU)
    }

    /// New TCP connections over the agent's existing circuit: the probe's samples, microseconds.
    func streamOpenLatency(count: Int) throws -> [Int] {
        let agent = try startAgent(["latency", "--port", "\(BenchPath.echoPort)", "--count", "\(count)"], tag: "latency")
        defer { agent.stop() }
        let line = try agent.readLine(timeout: 60 + Double(count) / 20, "latency samples")
        guard agent.wait(timeout: 30) == 0, let samples = BenchPath.numbers(after: "\"us\": [", in: line), samples.count == count else {
            throw agent.failure("gave no latency samples: \(line.prefix(200))")
        }
        return samples
    }

    /// What the scale phase measured.
    struct Scale: Sendable {
        var connections: Int
        var agents: Int
        /// Resident memory (KiB) before the connections (agents running, one connection and
        /// so one circuit each) and with all of them open.
        var relayBefore: Int, relayAfter: Int
        var shimsBefore: Int, shimsAfter: Int
        var serviceBefore: Int, serviceAfter: Int
        var seconds: Double
        func perConnection(_ before: Int, _ after: Int) -> Double { Double(after - before) / Double(connections - agents) }
    }

    /// `total` concurrent TCP connections through the relay: `agents` runs, each holding
    /// `total / agents` connections to the echo service over its one circuit (the shim and the
    /// service take up to 1,024 streams per connection), each echoing 64 bytes.
    func scale(total: Int, perAgent: Int) throws -> Scale {
        let agents = max(1, (total + perAgent - 1) / perAgent)
        var children: [BenchChild] = []
        defer { for c in children { c.stop() } }
        for i in 0..<agents {
            let count = total / agents + (i < total % agents ? 1 : 0)
            children.append(try startAgent(["hold", "--port", "\(BenchPath.echoPort)", "--count", "\(count)", "--size", "64"], tag: "scale-\(i)"))
        }
        for c in children {
            let line = try c.readLine(timeout: 60, "first connection")
            guard line == "circuit" else { throw c.failure("said \(line)") }
        }
        usleep(300_000)
        func rss() -> (Int, Int, Int) {
            let shims = agentProcesses().shims.map { BenchProbe.residentKiB($0) ?? 0 }.reduce(0, +)
            return (BenchProbe.residentKiB(relay.pid) ?? 0, shims, BenchProbe.residentKiB(echoService.pid) ?? 0)
        }
        let before = rss()
        let t0 = BenchProbe.wallSeconds()
        for c in children { c.write("g") }
        for c in children {
            let line = try c.readLine(timeout: 60 + Double(total) / 20, "its connections")
            guard line.hasPrefix("held ") else { throw c.failure("said \(line)") }
        }
        let seconds = BenchProbe.wallSeconds() - t0
        usleep(500_000)
        let open = echoConnections()
        guard open >= total else { throw CommandFailure("bench: the echo service holds \(open) connections, expected \(total)") }
        let after = rss()
        for c in children { c.closeStdin() }
        for c in children where c.wait(timeout: 30) != 0 { throw c.failure("did not end cleanly") }
        return Scale(connections: total, agents: agents, relayBefore: before.0, relayAfter: after.0, shimsBefore: before.1,
                     shimsAfter: after.1, serviceBefore: before.2, serviceAfter: after.2, seconds: seconds)
    }

    /// The integers of a JSON array that starts right after `marker`.
    static func numbers(after marker: String, in line: String) -> [Int]? {
        guard let r = line.range(of: marker), let close = line[r.upperBound...].firstIndex(of: "]") else { return nil }
        let body = line[r.upperBound..<close]
        if body.isEmpty { return [] }
        let values = body.split(separator: ",").compactMap { Int($0.trimmingPrefix(" ")) }
        return values
    }
}

/// Percentiles of a sample set (nearest rank).
enum BenchStats {
    static func percentile(_ samples: [Int], _ p: Double) -> Double {
        guard !samples.isEmpty else { return .nan }
        let sorted = samples.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return Double(sorted[max(0, min(sorted.count - 1, rank - 1))])
    }
}
