/// Bytes a connection accepted but the kernel has not taken yet.
///
/// Only the remainder of a write the socket could not take lands here, so the queue is empty
/// (and allocates nothing) on an idle or keeping-up connection. Small writes are coalesced into
/// chunks of up to `chunkLimit` bytes, so a backlog of many small frames still drains with few
/// syscalls and few allocations; drained chunks are freed at once.
struct OutputQueue {
    private struct Chunk {
        var bytes: [UInt8]
        var offset = 0
        var remaining: Int { bytes.count - offset }
    }

    /// Largest chunk small writes are coalesced into (one send per chunk when flushing).
    static let chunkLimit = 64 * 1024

    private var chunks: [Chunk] = []
    private var head = 0
    /// Queued bytes.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Copies `bytes` to the tail.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        let typed = bytes.bindMemory(to: UInt8.self)
        count += bytes.count
        if head < chunks.count, chunks[chunks.count - 1].bytes.count + bytes.count <= OutputQueue.chunkLimit {
            chunks[chunks.count - 1].bytes.append(contentsOf: typed)
            return
        }
        var fresh: [UInt8] = []
        fresh.reserveCapacity(max(bytes.count, min(4096, OutputQueue.chunkLimit)))
        fresh.append(contentsOf: typed)
        chunks.append(Chunk(bytes: fresh))
    }

    /// Sends from the head until the queue is empty or the socket would block.
    /// Returns the bytes sent. Throws the socket's error (the queue is then left as is).
    mutating func flush(to socket: Socket) throws(Errno) -> Int {
        var sent = 0
        while head < chunks.count {
            let offset = chunks[head].offset
            let result = chunks[head].bytes.withUnsafeBytes { raw -> Result<Int?, Errno> in
                Result { () throws(Errno) -> Int? in try socket.write(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            }
            let n = try result.get()
            guard let n else { break }
            sent += n
            count -= n
            chunks[head].offset += n
            if chunks[head].remaining > 0 { break }  // partial: the kernel buffer is full
            chunks[head] = Chunk(bytes: [])           // free the drained chunk now
            head += 1
        }
        if head == chunks.count {
            chunks = []
            head = 0
        } else if head >= 16 && head * 2 >= chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
        return sent
    }

    /// Drops everything (on close).
    mutating func removeAll() {
        chunks = []
        head = 0
        count = 0
    }
}
