import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct MonotonicTimeTests {
        @Test func neverGoesBackwards() {
            var last = MonotonicTime.now()
            for _ in 0..<1000 {
                let t = MonotonicTime.now()
                #expect(t >= last)
                last = t
            }
        }

        @Test func durationArithmeticSaturates() {
            let t = MonotonicTime(nanoseconds: 1_000)
            #expect(t.advanced(by: .microseconds(2)).nanoseconds == 3_000)
            #expect(t.advanced(by: .seconds(-5)) == t)
            #expect(t.advanced(by: .seconds(Int64.max)).nanoseconds == UInt64.max / 2 + 1_000)
            #expect(t.nanoseconds(until: MonotonicTime(nanoseconds: 500)) == 0)
            #expect(t.nanoseconds(until: MonotonicTime(nanoseconds: 1_500)) == 500)
        }
    }
}
