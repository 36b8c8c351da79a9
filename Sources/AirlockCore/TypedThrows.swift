/// Typed-throws versions of the standard library's buffer accessors, which only rethrow untyped
/// errors: the error is carried out of the closure in a `Result`.
extension Array where Element == UInt8 {
    @inlinable
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { raw in
            do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    @inlinable
    public mutating func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeMutableBytes { raw in
            do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

extension Array {
    /// Makes room for `extra` more elements, growing geometrically. `reserveCapacity` alone
    /// allocates exactly what is asked, so calling it before every append of a growing buffer
    /// reallocates (and copies everything queued) each time.
    @inlinable
    public mutating func reserveAdditional(_ extra: Int) {
        let needed = count + extra
        if needed > capacity { reserveCapacity(Swift.max(needed, capacity * 2)) }
    }
}
