import CZstd

/// A reusable zstd compression context (one per writer, never one per message).
/// Not thread-safe: use it from one thread at a time.
public final class Compressor: @unchecked Sendable {
    private let context: OpaquePointer
    public let level: Int32

    public init(level: Int32 = 1) {
        self.context = ZSTD_createCCtx()
        self.level = level
    }

    deinit { ZSTD_freeCCtx(context) }

    /// The largest compressed size for `count` input bytes.
    public static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `input` into `output` (appended), with `dictionary` when given.
    public func compress(_ input: UnsafeRawBufferPointer, dictionary: Dictionary? = nil,
                         appendingTo output: inout [UInt8]) throws {
        let start = output.count
        let capacity = Compressor.bound(input.count)
        output.reserveCapacity(start + capacity)
        var written = 0
        var failure: ZstdError?
        output.append(contentsOf: repeatElement(0, count: capacity))
        output.withUnsafeMutableBytes { out in
            let dst = out.baseAddress! + start
            let rc: Int
            if let dictionary {
                rc = ZSTD_compress_usingCDict(context, dst, capacity, input.baseAddress, input.count,
                                              dictionary.compressionDictionary(level: level))
            } else {
                rc = ZSTD_compressCCtx(context, dst, capacity, input.baseAddress, input.count, level)
            }
            do { written = try checkResult(rc, "compress") } catch { failure = error as? ZstdError }
        }
        if let failure {
            output.removeLast(capacity)
            throw failure
        }
        output.removeLast(capacity - written)
    }

    public func compress(_ input: [UInt8], dictionary: Dictionary? = nil) throws -> [UInt8] {
        var out: [UInt8] = []
        try input.withUnsafeBytes { (raw) throws in try compress(raw, dictionary: dictionary, appendingTo: &out) }
        return out
    }
}
