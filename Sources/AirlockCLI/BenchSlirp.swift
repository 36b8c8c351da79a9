#if canImport(Glibc)
import Glibc
#endif
import AirlockNet

/// The other peer baseline: the same kind of transfer from a namespace whose only network is
/// slirp4netns (user-mode TCP/IP, as rootless containers use) to a receiver on this host's
/// 127.0.0.1, reached through slirp's host-loopback address (the `.2` of its network, 10.0.2.2
/// by default). The namespace is `abenchn-PID-slirp`; slirp4netns is a child that ends when its
/// exit pipe closes. Outbound connections it makes are bound to 127.0.0.1 and its DNS is off, so
/// nothing but the host's loopback is reachable through it.
enum BenchSlirp {
    static let namespace = "\(BenchCleanup.prefix)-slirp"
    static let hostLoopback: UInt32 = 0x0a00_0202  // 10.0.2.2: slirp4netns maps it to the host's 127.0.0.1

    struct Measurement: Sendable {
        var transfer: BenchSendReceive.Measurement
        /// slirp4netns's CPU seconds over the transfer.
        var slirpCPU: Double
        var slirpSecondsPerGiB: Double { slirpCPU * BenchReport.gib / Double(transfer.bytes) }
    }

    static func available() -> String? {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where access("\(dir)/slirp4netns", X_OK) == 0 { return "\(dir)/slirp4netns" }
        return nil
    }

    static func measure(slirp: String, dir: String, bytes: Int) throws -> Measurement {
        _ = try? NetworkNamespace.delete(name: namespace)
        BenchCleanup.shared.add(namespace: namespace)
        defer {
            try? NetworkNamespace.delete(name: namespace)
            BenchCleanup.shared.remove(namespace: namespace)
        }
        let ns: NetworkNamespace
        do {
            ns = try NetworkNamespace.create(name: namespace)
            try ns.bringLoopbackUp()
        } catch { throw CommandFailure("bench: cannot make the slirp4netns namespace: \(error)") }

        var ready: [Int32] = [-1, -1], exit: [Int32] = [-1, -1]
        guard BenchChild.cloexecPipe(&ready), BenchChild.cloexecPipe(&exit) else { throw CommandFailure("bench: pipe: \(Output.errnoText())") }
        defer { close(ready[0]); close(exit[1]) }
        let child: BenchChild
        do {
            defer { close(ready[1]); close(exit[0]) }
            // Two descriptors to pass: the ready pipe as itself, the exit pipe through keepFD's twin.
            let readyFD = ready[1], exitFD = exit[0]
            child = try BenchChild(name: "slirp4netns", argv: [slirp, "--configure", "--mtu=65520", "--disable-dns",
                                                               "--outbound-addr=127.0.0.1", "--ready-fd=\(readyFD)",
                                                               "--exit-fd=\(exitFD)", "--netns-type=path",
                                                               "\(NetworkNamespace.runDirectory)/\(namespace)", "tap0"],
                                   logPath: "\(dir)/slirp4netns.log", keepFD: readyFD, keepFD2: exitFD)
        }
        defer { child.stop() }
        var p = pollfd(fd: ready[0], events: Int16(POLLIN), revents: 0)
        var byte: UInt8 = 0
        guard poll(&p, 1, 10_000) == 1, read(ready[0], &byte, 1) == 1 else { throw child.failure("did not configure the namespace") }

        let listener = try BenchSendReceive.socket()
        defer { close(listener) }
        let port = try BenchSendReceive.listen(listener, ip: BenchAgentProbe.loopback)
        let sender = try ns.run { try BenchSendReceive.socket() }
        defer { close(sender) }
        try BenchSendReceive.connect(sender, ip: hostLoopback, port: port)
        let receiver = try BenchSendReceive.accept(listener, timeout: 10)
        defer { close(receiver) }
        let c0 = BenchProbe.processCPU(child.pid)?.total ?? .nan
        let t = try BenchSendReceive.run(senderFD: sender, receiverFD: receiver, bytes: bytes, what: "slirp4netns")
        let c1 = BenchProbe.processCPU(child.pid)?.total ?? .nan
        return Measurement(transfer: t, slirpCPU: c1 - c0)
    }
}
