import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct TimerHeapTests {
        @Test func popsInDeadlineThenScheduleOrder() {
            var heap = TimerHeap()
            var rng = SystemRandomNumberGenerator()
            var expected: [(UInt64, UInt64)] = []
            for id in 1...500 as ClosedRange<UInt64> {
                let d = UInt64.random(in: 0..<50, using: &rng)   // many ties
                heap.push(.init(deadline: MonotonicTime(nanoseconds: d), id: id))
                expected.append((d, id))
            }
            expected.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            var got: [(UInt64, UInt64)] = []
            while let e = heap.popFirst() { got.append((e.deadline.nanoseconds, e.id)) }
            #expect(got.map(\.1) == expected.map(\.1))
        }

        @Test func compactKeepsOnlyLiveEntriesInOrder() {
            var heap = TimerHeap()
            for id in 1...100 as ClosedRange<UInt64> { heap.push(.init(deadline: MonotonicTime(nanoseconds: 1000 - id), id: id)) }
            heap.compact { $0 % 3 == 0 }
            #expect(heap.count == 33)
            var ids: [UInt64] = []
            while let e = heap.popFirst() { ids.append(e.id) }
            #expect(ids == stride(from: 99, through: 3, by: -3).map { UInt64($0) })
        }
    }
}
