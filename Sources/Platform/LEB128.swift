/// Unsigned LEB128 varints (7 bits a byte, low first, high bit = more) and zigzag signed values, as the
/// store's sequence blocks (Specs/IndexSchema.md) and the consumers' stored state use them.
public enum LEB128 {
    /// A signed value as an unsigned one whose size grows with its magnitude: 0, -1, 1, -2 → 0, 1, 2, 3.
    @inline(__always) public static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    @inline(__always) public static func unzigzag(_ raw: UInt64) -> Int64 {
        Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as an unsigned LEB128 varint (1 to 10 bytes).
    @inline(__always) public mutating func appendLEB128(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }
}

extension UnsafeRawBufferPointer {
    /// The unsigned LEB128 varint at `offset`, which moves past it; nil when it is cut short or longer than
    /// 64 bits allow.
    @inline(__always) public func readLEB128(at offset: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < count, shift < 64 {
            let byte = self[offset]
            offset += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        return nil
    }
}
