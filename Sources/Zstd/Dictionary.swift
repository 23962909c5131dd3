import CZstd
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// A zstd dictionary: its raw bytes and digested forms for compression and decompression.
/// Immutable after creation and safe to share between threads.
public final class Dictionary: @unchecked Sendable {
    /// The dictionary's bytes, as stored on disk.
    public let bytes: [UInt8]
    /// The id zstd stores in frames compressed with it (0 for raw-content dictionaries).
    public let id: UInt32
    private let lock = Lock()
    private var compressionDictionaries: [Int32: OpaquePointer] = [:]
    let decompressionDictionary: OpaquePointer

    public init(bytes: [UInt8]) throws {
        guard !bytes.isEmpty, let ddict = bytes.withUnsafeBytes({ ZSTD_createDDict($0.baseAddress, $0.count) }) else {
            throw ZstdError(code: 0, operation: "create dictionary (empty or invalid)")
        }
        self.bytes = bytes
        self.decompressionDictionary = ddict
        self.id = bytes.withUnsafeBytes { ZDICT_getDictID($0.baseAddress, $0.count) }
    }

    deinit {
        for (_, cdict) in compressionDictionaries { ZSTD_freeCDict(cdict) }
        ZSTD_freeDDict(decompressionDictionary)
    }

    func compressionDictionary(level: Int32) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        if let existing = compressionDictionaries[level] { return existing }
        let cdict = bytes.withUnsafeBytes { ZSTD_createCDict($0.baseAddress, $0.count, level)! }
        compressionDictionaries[level] = cdict
        return cdict
    }

    /// Trains a dictionary of at most `capacity` bytes from `samples` (zstd's ZDICT trainer).
    /// Throws when the samples are too few or too uniform to train from.
    public static func train(samples: [[UInt8]], capacity: Int = 16 << 10) throws -> Dictionary {
        var joined: [UInt8] = []
        joined.reserveCapacity(samples.reduce(0) { $0 + $1.count })
        var sizes: [Int] = []
        for sample in samples { joined.append(contentsOf: sample); sizes.append(sample.count) }
        var buffer = [UInt8](repeating: 0, count: capacity)
        let rc = buffer.withUnsafeMutableBytes { dst in
            joined.withUnsafeBytes { src in
                ZDICT_trainFromBuffer(dst.baseAddress, capacity, src.baseAddress, sizes, UInt32(sizes.count))
            }
        }
        if ZDICT_isError(rc) != 0 {
            throw ZstdError(code: rc, operation: "train dictionary (\(samples.count) samples)")
        }
        return try Dictionary(bytes: Array(buffer.prefix(rc)))
    }
}
