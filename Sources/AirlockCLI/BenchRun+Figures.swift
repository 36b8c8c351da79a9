/// The figures of a run, made from the phases' results once all ran (so the table reads in a
/// fixed order, and figures that compare two phases have both).
extension BenchRun {
    /// AEAD passes on the whole path: the shim seals each byte twice (the relayed connection's
    /// Noise inside its connection's to the relay), the relay opens and seals it once, the
    /// service opens it twice.
    static let pathEncrypts = 3.0, pathDecrypts = 3.0
    /// Plain TCP hops on the path: agent → shim and service → sink and relay → service on
    /// loopback, shim → relay over the agent's veth.
    static let pathLoopbackHops = 3.0, pathVethHops = 1.0

    func addFigures() {
        let gbit = { (bitsPerSecond: Double) in bitsPerSecond / 1e9 }
        var floor: Double?
        var pathCeiling: Double?
        if let c = cipher {
            report.add(.init(key: "aead_encrypt", label: "AEAD encrypt, 1 core", value: c.encryptBytesPerSecond / 1e9, unit: "GB/s"))
            report.add(.init(key: "aead_decrypt", label: "AEAD decrypt, 1 core", value: c.decryptBytesPerSecond / 1e9, unit: "GB/s"))
            report.add(.init(key: "aead_two_passes", label: "AEAD encrypt + decrypt CPU", value: c.encryptSecondsPerGiB + c.decryptSecondsPerGiB, unit: "s/GiB"))
        }
        if let f = forwarder {
            report.add(.init(key: "forwarder_throughput", label: "plain forwarder throughput", value: gbit(f.bitsPerSecond), unit: "Gbit/s"))
            report.add(.init(key: "forwarder_cpu", label: "plain forwarder CPU", value: f.cpuSecondsPerGiB, unit: "s/GiB"))
        }
        if let l = loopback {
            report.add(.init(key: "loopback_throughput", label: "raw TCP over loopback, 1 stream", value: gbit(l.bitsPerSecond), unit: "Gbit/s"))
            report.add(.init(key: "loopback_hop_cpu", label: "loopback TCP hop CPU (send + receive)", value: l.hopSecondsPerGiB, unit: "s/GiB"))
        }
        if let v = veth {
            report.add(.init(key: "veth_throughput", label: "raw TCP over veth, 1 stream", value: gbit(v.bitsPerSecond), unit: "Gbit/s"))
            report.add(.init(key: "veth_hop_cpu", label: "veth TCP hop CPU (send + receive)", value: v.hopSecondsPerGiB, unit: "s/GiB"))
        }
        if let c = cipher, let f = forwarder {
            floor = c.encryptSecondsPerGiB + c.decryptSecondsPerGiB + f.cpuSecondsPerGiB
            report.add(.init(key: "floor_cpu", label: "floor: 2 AEAD passes + forwarder", value: floor!, unit: "s/GiB"))
        }
        if let c = cipher, let l = loopback {
            if let v = veth {
                let need = BenchRun.pathEncrypts * c.encryptSecondsPerGiB + BenchRun.pathDecrypts * c.decryptSecondsPerGiB
                    + BenchRun.pathLoopbackHops * l.hopSecondsPerGiB + BenchRun.pathVethHops * v.hopSecondsPerGiB
                pathCeiling = Double(BenchProbe.cores) * 8 * BenchReport.gib / need / 1e9
                report.add(.init(key: "path_cpu_needed", label: "path needs: 6 AEAD passes + 4 TCP hops", value: need, unit: "s/GiB"))
                report.add(.init(key: "path_ceiling", label: "path ceiling: \(BenchProbe.cores) cores ÷ that", value: pathCeiling!, unit: "Gbit/s"))
            }
        }
        if let r = relay {
            report.add(.init(key: "relay_throughput", label: "relay throughput, peers in-process", value: gbit(r.bitsPerSecond), unit: "Gbit/s"))
            report.add(.init(key: "relay_cpu", label: "relay CPU", value: r.relaySecondsPerGiB, unit: "s/GiB",
                             baseline: floor, baselineLabel: "floor", maxRatio: floor == nil ? nil : 1.5))
        }
        if let p = py {
            report.add(.init(key: "py_relay_throughput", label: "py-libp2p relay throughput, same peers", value: gbit(p.bitsPerSecond), unit: "Gbit/s",
                             baseline: relay.map { gbit($0.bitsPerSecond) }, baselineLabel: "airlock relay"))
            report.add(.init(key: "py_relay_cpu", label: "py-libp2p relay CPU", value: p.relaySecondsPerGiB, unit: "s/GiB",
                             baseline: relay?.relaySecondsPerGiB, baselineLabel: "airlock relay"))
        }
        if let sl = slirp {
            report.add(.init(key: "slirp_throughput", label: "slirp4netns to 127.0.0.1, 1 stream", value: gbit(sl.transfer.bitsPerSecond), unit: "Gbit/s"))
            report.add(.init(key: "slirp_cpu", label: "slirp4netns CPU", value: sl.slirpSecondsPerGiB, unit: "s/GiB"))
        }
        if let st = stream {
            let t = gbit(st.bitsPerSecond)
            report.add(.init(key: "path_throughput", label: "path throughput, 1 stream", value: t, unit: "Gbit/s",
                             baseline: pathCeiling, baselineLabel: "path ceiling", minRatio: pathCeiling == nil ? nil : 0.5,
                             unchecked: pathCeiling == nil ? ("≥ 0.500× path ceiling", "needs the phases ceiling, forwarder and veth") : nil))
            if py == nil {
                report.add(.init(key: "path_vs_py", label: "path throughput vs py-libp2p relay", value: t, unit: "Gbit/s",
                                 unchecked: ("≥ 10.0× py-libp2p", "needs the phase py")))
            }
            if let p = py {
                report.add(.init(key: "path_vs_py", label: "path throughput vs py-libp2p relay", value: t, unit: "Gbit/s",
                                 baseline: gbit(p.bitsPerSecond), baselineLabel: "py-libp2p", minRatio: 10))
            }
            if let sl = slirp {
                report.add(.init(key: "path_vs_slirp", label: "path throughput vs slirp4netns", value: t, unit: "Gbit/s",
                                 baseline: gbit(sl.transfer.bitsPerSecond), baselineLabel: "slirp4netns"))
            }
            let keys = ["agent program": "path_cpu_agent", "shim": "path_cpu_shim", "relay": "path_cpu_relay", "service": "path_cpu_service", "sink": "path_cpu_sink"]
            for (role, seconds) in st.cpu {
                let baseline = role == "relay" ? floor : nil
                report.add(.init(key: keys[role] ?? "path_cpu_\(role)", label: "path CPU: \(role)", value: st.perGiB(seconds), unit: "s/GiB",
                                 baseline: baseline, baselineLabel: baseline == nil ? nil : "floor"))
            }
        }
        if let l = latency {
            let ms = { (samples: [Int], p: Double) in BenchStats.percentile(samples, p) / 1000 }
            report.add(.init(key: "stream_open_p50", label: "new connection, existing circuit, p50", value: ms(l.existing, 50), unit: "ms", maxValue: 0.5))
            report.add(.init(key: "stream_open_p99", label: "new connection, existing circuit, p99", value: ms(l.existing, 99), unit: "ms", maxValue: 2))
            report.add(.init(key: "circuit_open_p50", label: "new connection, new circuit, p50", value: ms(l.fresh, 50), unit: "ms", maxValue: 3))
            report.add(.init(key: "circuit_open_p99", label: "new connection, new circuit, p99", value: ms(l.fresh, 99), unit: "ms", maxValue: 10))
        }
        if let sc = scale {
            report.add(.init(key: "scale_connections", label: "concurrent connections through the relay", value: Double(sc.connections), unit: "conns"))
            report.add(.init(key: "scale_relay_memory", label: "relay memory per connection", value: sc.perConnection(sc.relayBefore, sc.relayAfter),
                             unit: "KiB", maxValue: 32))
            report.add(.init(key: "scale_shim_memory", label: "shim memory per connection", value: sc.perConnection(sc.shimsBefore, sc.shimsAfter), unit: "KiB"))
            report.add(.init(key: "scale_service_memory", label: "service memory per connection",
                             value: sc.perConnection(sc.serviceBefore, sc.serviceAfter), unit: "KiB"))
        }
        if let m = memory {
            report.add(.init(key: "idle_circuit_memory", label: "relay memory per circuit", value: m.circuits.kibPerItem, unit: "KiB", maxValue: 64))
            report.add(.init(key: "idle_connection_memory", label: "relay memory per peer connection", value: m.connections.kibPerItem, unit: "KiB", maxValue: 32))
        }
        addDetails()
    }

    private func addDetails() {
        var d: [(String, Double)] = []
        if let c = cipher { d += [("aead_encrypt_s_per_gib", c.encryptSecondsPerGiB), ("aead_decrypt_s_per_gib", c.decryptSecondsPerGiB)] }
        if let f = forwarder { d += [("forwarder_wall_s", f.wallSeconds)] }
        if let v = veth { d += [("veth_wall_s", v.wallSeconds)] }
        if let r = relay {
            d += [("relay_wall_s", r.wallSeconds), ("relay_user_s_per_gib", r.relayUserSecondsPerGiB),
                  ("relay_system_s_per_gib", r.relaySystemSecondsPerGiB),
                  // Both peers run in this process on one thread, with two Noise layers each: four AEAD passes.
                  ("peers_cpu_s_per_gib", r.peersSecondsPerGiB),
                  ("relay_one_core_gbit_s", 8 * BenchReport.gib / r.relaySecondsPerGiB / 1e9)]
        }
        if let p = py { d += [("py_wall_s", p.wallSeconds), ("py_bytes", Double(p.bytes))] }
        if let st = stream {
            d += [("path_wall_s", st.wallSeconds), ("path_agent_self_cpu_s_per_gib", st.perGiB(st.probeSelfCPU))]
            let total = st.cpu.reduce(0) { $0 + $1.1 }
            d += [("path_cpu_total_s_per_gib", st.perGiB(total)), ("path_cpu_cores_busy", total / st.wallSeconds)]
        }
        if let l = latency {
            d += [("stream_open_mean_ms", Double(l.existing.reduce(0, +)) / Double(max(1, l.existing.count)) / 1000),
                  ("stream_open_max_ms", Double(l.existing.max() ?? 0) / 1000),
                  ("circuit_open_mean_ms", Double(l.fresh.reduce(0, +)) / Double(max(1, l.fresh.count)) / 1000),
                  ("circuit_open_max_ms", Double(l.fresh.max() ?? 0) / 1000)]
        }
        if let sc = scale {
            d += [("scale_agents", Double(sc.agents)), ("scale_open_s", sc.seconds),
                  ("scale_relay_rss_kib_before", Double(sc.relayBefore)), ("scale_relay_rss_kib_after", Double(sc.relayAfter)),
                  ("scale_shims_rss_kib_before", Double(sc.shimsBefore)), ("scale_shims_rss_kib_after", Double(sc.shimsAfter)),
                  ("scale_service_rss_kib_before", Double(sc.serviceBefore)), ("scale_service_rss_kib_after", Double(sc.serviceAfter))]
        }
        if let m = memory {
            d += [("relay_rss_kib_before_circuits", Double(m.circuits.beforeKiB)), ("relay_rss_kib_after_circuits", Double(m.circuits.afterKiB)),
                  ("relay_rss_kib_before_connections", Double(m.connections.beforeKiB)),
                  ("relay_rss_kib_after_connections", Double(m.connections.afterKiB))]
        }
        report.details = d
    }
}
