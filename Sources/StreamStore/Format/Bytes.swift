import CCRC32C
import LMDB

/// CRC32C (Castagnoli) as Specs/SegmentFormat.md defines it; hardware-accelerated where the CPU allows.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        strata_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8], extending crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, extending: crc) }
    }
}

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    @inline(__always) mutating func appendBE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    @inline(__always) mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { raw in
            for i in 0..<raw.count { self[offset + i] = raw[i] }
        }
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    @inline(__always) func loadBE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }

}

/// Big-endian key encodings, so that LMDB's byte order is numeric order; held inline, never on the heap.
enum Key {
    @inline(__always) static func u64(_ value: UInt64) -> InlineBytes {
        var key = InlineBytes()
        key.appendBigEndian(value)
        return key
    }

    @inline(__always) static func pair(_ a: UInt64, _ b: UInt64) -> InlineBytes {
        var key = InlineBytes()
        key.appendBigEndian(a)
        key.appendBigEndian(b)
        return key
    }
}
