import Foundation
import Testing
@testable import AirlockCLI

@Suite struct BenchCommandTests {
    /// Every figure `airlock bench` reports, by its JSON key.
    static let figureKeys = ["aead_encrypt", "aead_decrypt", "aead_two_passes", "forwarder_throughput", "forwarder_cpu",
                             "loopback_throughput", "loopback_hop_cpu", "veth_throughput", "veth_hop_cpu", "floor_cpu",
                             "path_cpu_needed", "path_ceiling", "relay_throughput", "relay_cpu", "py_relay_throughput", "py_relay_cpu",
                             "slirp_throughput", "slirp_cpu", "path_throughput", "path_vs_py", "path_vs_slirp",
                             "path_cpu_agent", "path_cpu_shim", "path_cpu_relay", "path_cpu_service", "path_cpu_sink",
                             "stream_open_p50", "stream_open_p99", "circuit_open_p50", "circuit_open_p99",
                             "scale_connections", "scale_relay_memory", "scale_shim_memory", "scale_service_memory",
                             "idle_circuit_memory", "idle_connection_memory"]
    /// Memory growth can be zero (the relay never sees the streams inside a circuit).
    static let growthKeys: Set = ["scale_relay_memory", "scale_shim_memory", "scale_service_memory"]
    /// Figures with a target, which must say whether it was met.
    static let targetKeys = ["relay_cpu", "path_throughput", "path_vs_py", "stream_open_p50", "stream_open_p99",
                             "circuit_open_p50", "circuit_open_p99", "scale_relay_memory", "idle_circuit_memory", "idle_connection_memory"]

    /// The whole bench, short, every phase: namespaces, agents and slirp4netns need root and the
    /// py-libp2p baseline the venv, so without them it checks only that the run says what it
    /// skipped (under CI=true the bench refuses to skip). Checks that every figure is there and
    /// positive, and that every target says met or not, never how fast anything was.
    @Test func quickRunReportsEveryFigure() throws {
        let dir = try TempDir()
        let r = try airlock(["bench", "--quick", "--json", "bench.json"], in: dir)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("figure"))
        #expect(r.stdout.contains("relay CPU"))
        #expect(r.stderr.contains("bench: 10/10"))
        let json = try JSONSerialization.jsonObject(with: Data(try dir.read("bench.json").utf8)) as? [String: Any]
        let figures = try #require(json?["figures"] as? [String: Any])
        let skipped = try #require(json?["skipped"] as? [String: String])
        let full = skipped.isEmpty
        if full { #expect(Set(figures.keys) == Set(Self.figureKeys)) } else { #expect(Set(figures.keys).isSubset(of: Set(Self.figureKeys))) }
        for key in Self.figureKeys {
            guard let f = figures[key] as? [String: Any] else {
                #expect(!full, "figure \(key) missing")
                continue
            }
            let value = try #require(f["value"] as? Double, "figure \(key) has no value")
            if Self.growthKeys.contains(key) { #expect(value.isFinite) } else { #expect(value > 0, "figure \(key) is \(value)") }
            #expect((f["unit"] as? String)?.isEmpty == false)
        }
        for key in Self.targetKeys {
            guard let f = figures[key] as? [String: Any] else { continue }
            #expect(f["met"] is Bool, "figure \(key) says nothing about its target")
            #expect(f["target"] is String)
        }
        let relayCPU = try #require(figures["relay_cpu"] as? [String: Any])
        #expect((relayCPU["baseline"] as? Double ?? 0) > 0)
        let parameters = try #require(json?["parameters"] as? [String: String])
        #expect(parameters["bytes"] == "\(32 << 20)")
        #expect(parameters["circuits"] == "50")
        // It cleaned up: no namespace of its own or of its relay's hub is left.
        let mine = try #require(parameters["namespace_prefix"]), hub = try #require(parameters["hub_prefix"])
        let left = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        #expect(!left.contains { $0.hasPrefix(mine + "-") || $0.hasPrefix(hub + "-") }, "left: \(left)")
    }

    @Test func usageErrors() throws {
        let dir = try TempDir()
        for args in [["--bytes", "12X"], ["--bytes", "1K"], ["--circuits", "0"], ["--connections", "many"], ["extra"],
                     ["--phases", "path,nothing"], ["--phases", "path,,latency"], ["--latency", "0"], ["--py-bytes", "1"],
                     ["--bytes", "17G"]] {
            let r = try airlock(["bench"] + args, in: dir)
            #expect(r.status == 64, "\(args)")
            #expect(r.stderr.hasPrefix("error: "), "\(args)")
            #expect(r.stderr.contains(usageLine(BenchCommand.help)), "\(args)")
        }
        #expect(CLI.main(["bench", "--help"]) == 0)
    }

    @Test func sizes() {
        #expect(BenchCommand.parseSize("1G") == 1 << 30)
        #expect(BenchCommand.parseSize("64m") == 64 << 20)
        #expect(BenchCommand.parseSize("4096") == 4096)
        #expect(BenchCommand.parseSize("") == nil)
        #expect(BenchCommand.parseSize("G") == nil)
        #expect(BenchCommand.parseSize("-1M") == nil)
        #expect(BenchCommand.parseSize("99999999999T") == nil)
    }

    @Test func reportTargetsAndFormat() {
        var r = BenchReport()
        r.add(.init(key: "cpu", label: "relay CPU", value: 3, unit: "s/GiB", baseline: 2, baselineLabel: "floor", maxRatio: 1.5))
        r.add(.init(key: "mem", label: "memory", value: 70, unit: "KiB", maxValue: 64))
        r.add(.init(key: "rate", label: "rate", value: 1.234, unit: "GB/s"))
        #expect(r.figures[0].ratio == 1.5)
        #expect(r.figures[0].met == true)
        #expect(r.figures[1].met == false)
        #expect(r.figures[2].met == nil)
        #expect(r.figures[1].missedBy.map { abs($0 - 70.0 / 64 + 1) < 1e-9 } == true)
        r.add(.init(key: "tp", label: "throughput", value: 1, unit: "Gbit/s", baseline: 4, baselineLabel: "ceiling", minRatio: 0.5))
        #expect(r.figures[3].met == false)
        #expect(r.figures[3].missedBy == 1)
        #expect(r.table().contains("≥ 0.500× ceiling"))
        #expect(r.table().contains("NO, missed by 100 %"))
        let table = r.table()
        #expect(table.contains("≤ 1.50× floor"))
        #expect(table.contains("NO"))
        // A target whose baseline's phase did not run says so instead of showing no target.
        r.add(.init(key: "path", label: "path", value: 1, unit: "Gbit/s", unchecked: ("≥ 0.500× path ceiling", "needs the phase ceiling")))
        #expect(r.figures[4].met == nil)
        #expect(r.table().contains("≥ 0.500× path ceiling  not checked: needs the phase ceiling"), "\(r.table())")
        #expect(r.json().contains("\"unchecked\": \"≥ 0.500× path ceiling: needs the phase ceiling\""))
        #expect(BenchReport.format(0.01234) == "0.012")
        #expect(BenchReport.format(12.34) == "12.3")
        #expect(BenchReport.format(1234.5) == "1235")
        #expect(BenchReport.format(1.5) == "1.50")
    }
}
