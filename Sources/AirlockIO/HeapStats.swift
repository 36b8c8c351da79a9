internal import CAirlockShims

/// Process heap statistics.
public enum HeapStats {
    /// Bytes currently allocated through malloc (small blocks plus mmapped ones), from
    /// `mallinfo2`. Walks the arenas: for metrics and tests, not for hot paths.
    public static func bytesInUse() -> UInt64 { airlock_heap_in_use() }
}
