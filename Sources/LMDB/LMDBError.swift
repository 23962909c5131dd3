import CLMDB

/// An error returned by LMDB: its numeric code (an LMDB code or an errno) and LMDB's own text,
/// plus the operation that failed. Codes are an open set, so this is a struct with named constants.
public struct LMDBError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The LMDB return code (negative LMDB codes, or a positive errno).
    public let code: Int32
    /// What the wrapper was doing when LMDB failed (e.g. "mdb_put").
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// LMDB's description of the code.
    public var message: String { String(cString: mdb_strerror(code)) }
    public var description: String { "LMDB \(operation) failed: \(message) (\(code))" }

    public static func == (lhs: LMDBError, rhs: LMDBError) -> Bool { lhs.code == rhs.code }

    public static let keyExists = LMDBError(code: MDB_KEYEXIST, operation: "")
    public static let notFound = LMDBError(code: MDB_NOTFOUND, operation: "")
    public static let mapFull = LMDBError(code: MDB_MAP_FULL, operation: "")
    public static let corrupted = LMDBError(code: MDB_CORRUPTED, operation: "")
    public static let invalid = LMDBError(code: MDB_INVALID, operation: "")
    public static let versionMismatch = LMDBError(code: MDB_VERSION_MISMATCH, operation: "")
    public static let pageNotFound = LMDBError(code: MDB_PAGE_NOTFOUND, operation: "")

    /// True when the code says the environment's file is damaged rather than misused.
    public var isCorruption: Bool {
        code == MDB_CORRUPTED || code == MDB_PAGE_NOTFOUND || code == MDB_INVALID
            || code == MDB_VERSION_MISMATCH || code == MDB_BAD_TXN
    }
}

@inline(__always)
func check(_ rc: Int32, _ operation: String) throws {
    if rc != 0 { throw LMDBError(code: rc, operation: operation) }
}
