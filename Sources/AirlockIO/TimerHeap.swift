/// A binary min-heap of timer deadlines. Ties are broken by the timer's id, which grows with
/// every schedule call, so timers with equal deadlines fire in the order they were scheduled.
///
/// Cancellation is lazy: the loop forgets the callback and the heap entry is skipped when it
/// surfaces; `compact(keeping:)` drops dead entries when they dominate.
struct TimerHeap {
    struct Entry {
        var deadline: MonotonicTime
        var id: UInt64
        @inline(__always) func before(_ o: Entry) -> Bool {
            deadline != o.deadline ? deadline < o.deadline : id < o.id
        }
    }

    private(set) var entries: [Entry] = []

    var count: Int { entries.count }
    var first: Entry? { entries.first }

    mutating func push(_ e: Entry) {
        entries.append(e)
        siftUp(entries.count - 1)
    }

    @discardableResult
    mutating func popFirst() -> Entry? {
        guard !entries.isEmpty else { return nil }
        let top = entries[0]
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDown(0)
        }
        return top
    }

    /// Rebuilds the heap from the entries whose id `isLive` accepts.
    mutating func compact(keeping isLive: (UInt64) -> Bool) {
        entries.removeAll { !isLive($0.id) }
        var i = entries.count / 2
        while i > 0 { i -= 1; siftDown(i) }
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].before(entries[parent]) else { return }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = entries.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && entries[l].before(entries[m]) { m = l }
            if r < n && entries[r].before(entries[m]) { m = r }
            if m == i { return }
            entries.swapAt(i, m)
            i = m
        }
    }
}
