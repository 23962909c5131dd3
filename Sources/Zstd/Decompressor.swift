import CZstd

/// A reusable zstd decompression context. Not thread-safe: use it from one thread at a time.
public final class Decompressor: @unchecked Sendable {
    private let context: OpaquePointer

    public init() { self.context = ZSTD_createDCtx() }
    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses `input`, which must expand to exactly `size` bytes, into `output`
    /// (which must have room for `size` bytes).
    public func decompress(_ input: UnsafeRawBufferPointer, size: Int, into output: UnsafeMutableRawBufferPointer,
                           dictionary: Dictionary? = nil) throws {
        let rc: Int
        if let dictionary {
            rc = ZSTD_decompress_usingDDict(context, output.baseAddress, size, input.baseAddress, input.count,
                                            dictionary.decompressionDictionary)
        } else {
            rc = ZSTD_decompressDCtx(context, output.baseAddress, size, input.baseAddress, input.count)
        }
        let produced = try checkResult(rc, "decompress")
        if produced != size { throw ZstdError.sizeMismatch(expected: size, actual: produced) }
    }

    public func decompress(_ input: [UInt8], size: Int, dictionary: Dictionary? = nil) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        try input.withUnsafeBytes { (src) throws in
            try out.withUnsafeMutableBytes { (dst) throws in
                try decompress(src, size: size, into: dst, dictionary: dictionary)
            }
        }
        return out
    }
}
