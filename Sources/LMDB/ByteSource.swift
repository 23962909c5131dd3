/// Something that can lend its bytes for an LMDB key or value without copying them to the heap.
public protocol ByteSource {
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ByteSource where Element == UInt8 {
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try withUnsafeBytes(body) }
}

extension String: ByteSource {
    /// The string's UTF-8 bytes (copied only when the string is not stored contiguously).
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let result = try utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) { return result }
        return try Array(utf8).withUnsafeBytes(body)
    }
}

/// Up to 48 bytes held inline (on the stack): fixed-size keys and small values with no allocation.
public struct InlineBytes: ByteSource {
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    public private(set) var count = 0
    public static let capacity = 48

    public init() {}

    /// Appends `value` big-endian (key order is numeric order).
    @inline(__always)
    public mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) { append(value.bigEndian) }

    @inline(__always)
    public mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) { append(value.littleEndian) }

    /// Appends `value` as an unsigned LEB128 varint (1 to 10 bytes).
    @inline(__always)
    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    @inline(__always)
    private mutating func append<T: FixedWidthInteger>(_ raw: T) {
        precondition(count + MemoryLayout<T>.size <= InlineBytes.capacity, "InlineBytes overflow")
        let offset = count
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: raw, toByteOffset: offset, as: T.self) }
        count += MemoryLayout<T>.size
    }

    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = storage
        let n = count
        return try withUnsafeBytes(of: &copy) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }
}
