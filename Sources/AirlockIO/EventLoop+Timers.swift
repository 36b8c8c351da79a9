/// Identifies a scheduled timer, for `EventLoop.cancel`.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
}

/// Timers: a min-heap of deadlines that sets `epoll_wait`'s timeout (millisecond resolution,
/// rounded up: a timer never fires early). No timerfd, so scheduling costs no syscall.
extension EventLoop {
    /// Runs `body` on the loop once `deadline` has passed. Loop thread only.
    @discardableResult
    public func schedule(at deadline: MonotonicTime, _ body: @escaping () -> Void) -> TimerID {
        precondition(inLoop, "EventLoop.schedule off the loop thread")
        let id = nextTimerID
        nextTimerID += 1
        timerHeap.push(.init(deadline: deadline, id: id))
        timerCallbacks[id] = body
        return TimerID(raw: id)
    }

    /// Runs `body` on the loop after `delay`. Loop thread only.
    @discardableResult
    public func schedule(after delay: Duration, _ body: @escaping () -> Void) -> TimerID {
        schedule(at: MonotonicTime.now().advanced(by: delay), body)
    }

    /// Cancels a timer that has not fired yet; a no-op for fired or cancelled timers.
    /// Returns whether the timer was pending.
    @discardableResult
    public func cancel(_ timer: TimerID) -> Bool {
        precondition(inLoop, "EventLoop.cancel off the loop thread")
        guard timerCallbacks.removeValue(forKey: timer.raw) != nil else { return false }
        // Cancelled entries stay in the heap until they surface; drop them in bulk once they
        // dominate, so a connection that re-arms an idle timer on every read cannot grow it.
        if timerHeap.count > 64 && timerHeap.count > 2 * timerCallbacks.count {
            timerHeap.compact { timerCallbacks[$0] != nil }
        }
        return true
    }

    /// Number of pending (scheduled, not cancelled, not fired) timers.
    public var pendingTimerCount: Int { timerCallbacks.count }

    /// The earliest live deadline, discarding cancelled entries on top of the heap.
    func nextTimerDeadline() -> MonotonicTime? {
        while let top = timerHeap.first {
            if timerCallbacks[top.id] != nil { return top.deadline }
            timerHeap.popFirst()
        }
        return nil
    }

    /// Fires every timer whose deadline has passed, in deadline order. Timers scheduled by a
    /// callback for a time already past fire in this same pass.
    func runDueTimers() {
        guard !timerHeap.entries.isEmpty else { return }
        let now = MonotonicTime.now()
        while let top = timerHeap.first, top.deadline <= now {
            timerHeap.popFirst()
            if let body = timerCallbacks.removeValue(forKey: top.id) { body() }
        }
    }
}
