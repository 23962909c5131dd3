import CZstd

/// An error from zstd: its error code and zstd's own text, with the operation that failed.
public struct ZstdError: Error, CustomStringConvertible, Sendable {
    public let code: Int
    public let operation: String
    public var message: String { String(cString: ZSTD_getErrorName(code)) }
    public var description: String { "zstd \(operation) failed: \(message)" }

    /// Raised by ``Decompressor`` when the output does not have the size the caller expected.
    public static func sizeMismatch(expected: Int, actual: Int) -> ZstdError {
        ZstdError(code: 0, operation: "decompress (expected \(expected) bytes, got \(actual))")
    }
}

@inline(__always)
func checkResult(_ result: Int, _ operation: String) throws -> Int {
    if ZSTD_isError(result) != 0 { throw ZstdError(code: result, operation: operation) }
    return result
}
