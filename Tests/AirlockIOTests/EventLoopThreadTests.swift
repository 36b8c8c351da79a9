import Synchronization
import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct EventLoopThreadTests {
        /// A task that holds an object registered on the loop: after stop and join, the loop has
        /// dropped it, so it is freed and its fd closed.
        @Test func stopAndJoinFreesWhatTheLoopHeld() async throws {
            let thread = try EventLoopThread(name: "io-join")
            let freed = Counter()
            final class Token { let onDeinit: () -> Void; init(_ f: @escaping () -> Void) { onDeinit = f }; deinit { onDeinit() } }
            let loop = thread.loop
            _ = try await loop.submit {
                let t = Token { freed.value.add(1, ordering: .relaxed) }
                loop.schedule(after: .seconds(3600)) { _ = t }
            }
            #expect(freed.value.load(ordering: .relaxed) == 0)
            thread.stopAndJoin()
            #expect(freed.value.load(ordering: .relaxed) == 1)
            thread.join()   // a second join returns at once
        }
    }
}
