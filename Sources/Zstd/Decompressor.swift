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

    /// The decompressed size a zstd frame declares in its header, read without decompressing; nil when the
    /// header does not say (or is not a zstd frame header). Lets a reader refuse a frame whose declared size
    /// disagrees with what it expects before it allocates room for it.
    public static func declaredContentSize(of input: UnsafeRawBufferPointer) -> UInt64? {
        guard let base = input.baseAddress else { return nil }
        let size = ZSTD_getFrameContentSize(base, input.count)
        // (ZSTD_CONTENTSIZE_UNKNOWN is 0ULL - 1, ZSTD_CONTENTSIZE_ERROR 0ULL - 2)
        return size >= UInt64.max - 1 ? nil : size
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
