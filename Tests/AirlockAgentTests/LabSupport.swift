import Foundation
import AirlockCore
import AirlockIO

/// What the in-process labs (`ShimLab`, `ExitLab`) share: loggers that feed one capture, and
/// polling a condition on the lab's loop.
enum LabSupport {
    /// A logger for `component` whose lines go to `logs` only (nothing is written to stderr).
    static func logger(_ component: String, into logs: ShimLabLog) -> Logger {
        let logger = Logger(component: component, minimum: .debug, fd: -1)
        logger.addSink { logs.append($0) }
        return logger
    }

    /// Polls `condition` on `loop` every 20 ms until it holds; throws after `timeout` seconds.
    static func waitUntil(_ loop: EventLoop, _ what: String, timeout: Double, _ condition: @escaping @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            if try await loop.submit(condition) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ShimLabFailure("timed out waiting for: \(what)")
    }
}
