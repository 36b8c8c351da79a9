#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct EventLoopTests {
        @Test func timersFireInDeadlineOrderAndNeverEarly() async throws {
            let fired: [String] = try await onLoop { loop, done in
                var order: [String] = []
                let start = MonotonicTime.now()
                func at(_ ms: Int, _ name: String) {
                    loop.schedule(after: .milliseconds(ms)) {
                        if start.nanoseconds(until: .now()) < UInt64(ms) * 1_000_000 { order.append("early:\(name)") }
                        order.append(name)
                    }
                }
                at(30, "30")
                at(10, "10")
                at(20, "20")
                // Equal deadlines fire in scheduling order.
                let same = start.advanced(by: .milliseconds(15))
                loop.schedule(at: same) { order.append("15a") }
                loop.schedule(at: same) { order.append("15b") }
                loop.schedule(after: .milliseconds(45)) { done(.success(order)) }
            }
            #expect(fired == ["10", "15a", "15b", "20", "30"])
        }

        @Test func cancelledTimersDoNotFire() async throws {
            let result: (fired: [Int], cancelledPending: Bool, cancelledAgain: Bool, pending: Int) = try await onLoop { loop, done in
                var fired: [Int] = []
                var ids: [TimerID] = []
                for i in 0..<200 { ids.append(loop.schedule(after: .milliseconds(5 + i % 7)) { fired.append(i) }) }
                var first = true, again = true
                for (i, id) in ids.enumerated() where i % 2 == 1 {
                    let c = loop.cancel(id)
                    first = first && c
                    again = again && !loop.cancel(id)
                }
                let pending = loop.pendingTimerCount
                loop.schedule(after: .milliseconds(40)) { done(.success((fired, first, again, pending))) }
            }
            #expect(result.fired.sorted() == Array(stride(from: 0, to: 200, by: 2)))
            #expect(result.cancelledPending && result.cancelledAgain)
            #expect(result.pending == 100 + 1)  // plus the harness timeout timer
        }

        @Test func executeFromOtherThreadsRunsEveryTaskInOrderPerThread() async throws {
            let threads = 4, perThread = 2_000
            let seen: [[Int]] = try await onLoop { loop, done in
                // Mutated only on the loop thread (inside executed tasks).
                final class Log: @unchecked Sendable { var perThread: [[Int]]; init(perThread: [[Int]]) { self.perThread = perThread } }
                let log = Log(perThread: Array(repeating: [], count: threads))
                let remaining = Counter(threads * perThread)
                DispatchQueue.global().async {
                    DispatchQueue.concurrentPerform(iterations: threads) { t in
                        for i in 0..<perThread {
                            loop.execute {
                                precondition(loop.inLoop)
                                log.perThread[t].append(i)
                                if remaining.value.subtract(1, ordering: .relaxed).newValue == 0 { done(.success(log.perThread)) }
                            }
                        }
                    }
                }
            }
            #expect(seen.count == threads)
            for s in seen { #expect(s == Array(0..<perThread)) }
        }

        @Test func submitReturnsTheResultToTheCallingTask() async throws {
            let thread = try EventLoopThread(name: "io-submit")
            defer { thread.stopAndJoin() }
            let onLoopThread = try await thread.loop.submit { thread.loop.inLoop }
            #expect(onLoopThread)
            #expect(!thread.loop.inLoop)
        }

        /// Two readable fds; whichever handler runs first closes the other and puts a fresh fd
        /// under the same number. The old fd's event, already fetched in the same batch, must
        /// not reach the new registration.
        @Test func staleEventsAreNotDeliveredAfterFdReuse() async throws {
            let result: (delivered: Int, stale: Int, firstRuns: Int) = try await onLoop { loop, done in
                let (ar, aw) = makePipe(), (br, bw) = makePipe()
                let a = [ar, aw], b = [br, bw]
                _ = write(a[1], "x", 1); _ = write(b[1], "x", 1)
                var delivered = 0, firstRuns = 0
                var replaced = false
                func handler(other: Int32) -> EventLoop.Handler {
                    { _ in
                        firstRuns += 1
                        guard !replaced else { return }
                        replaced = true
                        loop.deregister(other)
                        let fresh = makePipe()
                        _ = dup2(fresh.0, other)   // closes `other`, reuses its number
                        close(fresh.0)
                        try! loop.register(other, interest: .read) { _ in delivered += 1 }
                    }
                }
                try! loop.register(a[0], interest: .read, handler: handler(other: b[0]))
                try! loop.register(b[0], interest: .read, handler: handler(other: a[0]))
                loop.schedule(after: .milliseconds(30)) {
                    done(.success((delivered, loop.staleEventsDropped, firstRuns)))
                }
            }
            #expect(result.firstRuns == 1)
            #expect(result.delivered == 0)
            #expect(result.stale == 1)
        }

        @Test func runSoonRunsAfterTheCurrentTaskWithoutSleeping() async throws {
            let order: [String] = try await onLoop { loop, done in
                var order: [String] = []
                loop.runSoon { order.append("soon1"); loop.runSoon { order.append("soon2"); done(.success(order)) } }
                order.append("task")
            }
            #expect(order == ["task", "soon1", "soon2"])
        }
    }
}
