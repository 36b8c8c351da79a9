/// A growable byte buffer with a reader index. Reads that lack bytes return `nil` and consume
/// nothing, so a decoder can be fed one byte at a time. Multi-byte integers are big-endian.
///
/// Storage is compacted lazily (when the consumed prefix is at least half of the storage), so a
/// long-lived buffer that is drained regularly does not grow.
public struct ByteBuffer: Sendable, Equatable {
    @usableFromInline var storage: [UInt8]
    @usableFromInline var readerIndex: Int

    public init() { storage = []; readerIndex = 0 }
    public init<S: Sequence>(_ bytes: S) where S.Element == UInt8 { storage = Array(bytes); readerIndex = 0 }
    public init(capacity: Int) { storage = []; storage.reserveCapacity(capacity); readerIndex = 0 }

    @inlinable public var readableBytes: Int { storage.count - readerIndex }
    @inlinable public var isEmpty: Bool { readerIndex == storage.count }

    /// The unread bytes, without consuming them.
    @inlinable public var readableView: ArraySlice<UInt8> { storage[readerIndex...] }

    // MARK: writing

    @inlinable public mutating func write<S: Sequence>(_ bytes: S) where S.Element == UInt8 { storage.append(contentsOf: bytes) }
    @inlinable public mutating func write(_ byte: UInt8) { storage.append(byte) }
    @inlinable public mutating func write(bigEndian v: UInt16) { storage.append(UInt8(v >> 8)); storage.append(UInt8(truncatingIfNeeded: v)) }
    @inlinable public mutating func write(bigEndian v: UInt32) {
        storage.append(UInt8(v >> 24)); storage.append(UInt8(truncatingIfNeeded: v >> 16))
        storage.append(UInt8(truncatingIfNeeded: v >> 8)); storage.append(UInt8(truncatingIfNeeded: v))
    }
    /// Appends raw bytes from an unsafe buffer (the I/O path's entry point).
    public mutating func write(_ raw: UnsafeRawBufferPointer) { storage.append(contentsOf: raw.bindMemory(to: UInt8.self)) }

    // MARK: reading

    @inlinable public func peek(at offset: Int = 0) -> UInt8? {
        let i = readerIndex + offset
        return i < storage.count ? storage[i] : nil
    }
    @inlinable public func peekBytes(count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, count <= readableBytes else { return nil }
        return storage[readerIndex ..< readerIndex + count]
    }
    @inlinable public mutating func readByte() -> UInt8? {
        guard readerIndex < storage.count else { return nil }
        defer { readerIndex += 1 }
        return storage[readerIndex]
    }
    @inlinable public mutating func readUInt16() -> UInt16? {
        guard readableBytes >= 2 else { return nil }
        defer { readerIndex += 2 }
        return UInt16(storage[readerIndex]) << 8 | UInt16(storage[readerIndex + 1])
    }
    @inlinable public mutating func readUInt32() -> UInt32? {
        guard readableBytes >= 4 else { return nil }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(storage[readerIndex + i]) }
        readerIndex += 4
        return v
    }
    @inlinable public mutating func readBytes(count: Int) -> [UInt8]? {
        guard count >= 0, count <= readableBytes else { return nil }
        defer { readerIndex += count; compactIfWorthIt() }
        return Array(storage[readerIndex ..< readerIndex + count])
    }
    @inlinable public mutating func readAll() -> [UInt8] { readBytes(count: readableBytes)! }
    @inlinable public mutating func skip(_ count: Int) {
        precondition(count >= 0 && count <= readableBytes, "skip past the end")
        readerIndex += count
        compactIfWorthIt()
    }
    /// Runs `body` over the unread bytes; `body` returns how many it consumed.
    @inlinable public mutating func withUnreadBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> (consumed: Int, result: R)) rethrows -> R {
        let (n, r) = try storage.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[readerIndex...]))
        }
        skip(n)
        return r
    }
    @inlinable public mutating func clear() { storage.removeAll(keepingCapacity: false); readerIndex = 0 }

    @usableFromInline mutating func compactIfWorthIt() {
        if readerIndex == storage.count {
            storage.removeAll(keepingCapacity: storage.count <= 4096)
            readerIndex = 0
        } else if readerIndex >= 4096 && readerIndex * 2 >= storage.count {
            storage.removeFirst(readerIndex)
            readerIndex = 0
        }
    }
    public static func == (a: ByteBuffer, b: ByteBuffer) -> Bool { a.readableView == b.readableView }
}

extension ByteBuffer {
    /// Runs `body` over the unread bytes, mutable (in-place decryption); `body` returns a result,
    /// the caller then `skip`s what it consumed.
    public mutating func withUnsafeMutableReadableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let start = readerIndex
        let result: Result<R, E> = storage.withUnsafeMutableBytes { raw in
            do throws(E) { return .success(try body(UnsafeMutableRawBufferPointer(rebasing: raw[start...]))) }
            catch { return .failure(error) }
        }
        return try result.get()
    }
}
