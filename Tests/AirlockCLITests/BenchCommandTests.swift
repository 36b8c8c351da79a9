import Foundation
import Testing
@testable import AirlockCLI

@Suite struct BenchCommandTests {
    /// Every figure `airlock bench` reports, by its JSON key.
    static let figureKeys = ["aead_encrypt", "aead_decrypt", "aead_two_passes", "forwarder_throughput", "forwarder_cpu",
                             "floor_cpu", "relay_throughput", "relay_cpu", "idle_circuit_memory", "idle_connection_memory"]

    /// The whole bench, short: a relay child, a transfer, idle circuits and connections. Checks
    /// that every figure is there and positive, never how fast anything was.
    @Test func quickRunReportsEveryFigure() throws {
        let dir = try TempDir()
        let r = try airlock(["bench", "--quick", "--json", "bench.json"], in: dir)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("figure"))
        #expect(r.stdout.contains("relay CPU"))
        #expect(r.stderr.contains("bench: 5/5"))
        let json = try JSONSerialization.jsonObject(with: Data(try dir.read("bench.json").utf8)) as? [String: Any]
        let figures = try #require(json?["figures"] as? [String: Any])
        #expect(Set(figures.keys) == Set(Self.figureKeys))
        for key in Self.figureKeys {
            let f = try #require(figures[key] as? [String: Any], "figure \(key) missing")
            let value = try #require(f["value"] as? Double, "figure \(key) has no value")
            #expect(value > 0, "figure \(key) is \(value)")
            #expect((f["unit"] as? String)?.isEmpty == false)
        }
        let relayCPU = try #require(figures["relay_cpu"] as? [String: Any])
        #expect((relayCPU["baseline"] as? Double ?? 0) > 0)
        #expect(relayCPU["met"] is Bool)
        let parameters = try #require(json?["parameters"] as? [String: String])
        #expect(parameters["bytes"] == "\(64 << 20)")
        #expect(parameters["circuits"] == "50")
    }

    @Test func usageErrors() throws {
        let dir = try TempDir()
        for args in [["--bytes", "12X"], ["--bytes", "1K"], ["--circuits", "0"], ["--connections", "many"], ["extra"]] {
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
        let table = r.table()
        #expect(table.contains("≤ 1.50× floor"))
        #expect(table.contains("NO"))
        #expect(BenchReport.format(0.01234) == "0.012")
        #expect(BenchReport.format(12.34) == "12.3")
        #expect(BenchReport.format(1234.5) == "1235")
        #expect(BenchReport.format(1.5) == "1.50")
    }
}
