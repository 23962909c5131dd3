import NIOCore

extension ByteBuffer {
    /// Writes `value` in decimal ASCII digits, without a sign or separators, and returns how many bytes it wrote.
    @discardableResult
    public mutating func writeDecimal(_ value: UInt64) -> Int {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for the 20 digits of UInt64.max
        var n = value, count = 0
        return withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[count] = UInt8(truncatingIfNeeded: 48 &+ n % 10); n /= 10; count += 1 } while n > 0
            return writeWithUnsafeMutableBytes(minimumWritableBytes: count) { out in
                for i in 0..<count { out[i] = d[count - 1 - i] }
                return count
            }
        }
    }
}
