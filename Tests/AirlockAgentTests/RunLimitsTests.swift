import Testing
@testable import AirlockAgent

/// Parsing the limit options, and how messages name them.
struct RunLimitsTests {
    @Test func durationsSizesAndCounts() throws {
        #expect(try RunLimits.parseDuration("90", option: "timeout") == 90)
        #expect(try RunLimits.parseDuration("1.5m", option: "timeout") == 90)
        #expect(try RunLimits.parseDuration("2h", option: "cpu") == 7200)
        #expect(throws: LimitError("--timeout 0: expected a positive duration such as 30, 30s, 5m or 2h (at most 30 days)")) {
            try RunLimits.parseDuration("0", option: "timeout")
        }
        #expect(try RunLimits.parseSize("64M", option: "memory") == 64 << 20)
        #expect(try RunLimits.parseSize("2GiB", option: "memory") == 2 << 30)
        #expect(throws: LimitError("--memory 512K: at least 1M")) { try RunLimits.parseSize("512K", option: "memory") }
        #expect(try RunLimits.parseCount("32", option: "pids") == 32)
        #expect(throws: LimitError("--pids 0: expected a whole number from 1 to 4194304")) { try RunLimits.parseCount("0", option: "pids") }
    }

    @Test func messagesNameTheOptionWithItsValue() {
        let l = RunLimits(timeout: 1.5, memory: 64 << 20, pids: 32, cpu: 1, killOnDeny: 3)
        #expect(l.option(.pids) == "--pids 32")
        #expect(l.option(.memory) == "--memory 64 MiB")
        #expect(l.option(.cpu) == "--cpu 1 s")
        #expect(l.option(.timeout) == "--timeout 1.5 s")
        #expect(l.killOnDenyOption == "--kill-on-deny 3")
        #expect(RunLimits().option(.memory) == "--memory")
        #expect(RunLimits.sizeText(1536 << 10) == "1536 KiB")
        #expect(RunLimits.sizeText(3 << 30) == "3 GiB")
        #expect(RunLimits.sizeText(1_000_001) == "1000001 bytes")
        #expect(RunLimits.secondsText(7200) == "7200 s")
    }
}
