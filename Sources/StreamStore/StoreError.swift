#if canImport(Glibc)
import Glibc
#endif
import LMDB
import Subjects
import Zstd

/// Every error the storage engine raises, each with enough context to act on.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// A subject or filter is not valid.
    case invalidSubject(String, Subject.Invalid)
    /// The configuration is not valid; the text says why.
    case invalidConfig(String)
    /// A message's accounted size is over the stream's maximum message size.
    case messageTooLarge(size: UInt64, limit: UInt64)
    /// Discard-new stream is full: which limit.
    case limitReached(String)
    /// An append's expected last sequence did not hold; `actual` is what it was.
    case wrongLastSequence(actual: UInt64)
    /// An append's expected last sequence of its subject did not hold; `actual` is what it was.
    case wrongLastSubjectSequence(actual: UInt64)
    /// An append's expected last message id did not hold; `actual` is the last message's id ("" = none).
    case wrongLastMessageID(actual: String)
    /// No stream at this path (no `stream.json`).
    case notAStream(path: String)
    /// Another process holds the stream's lock.
    case locked(path: String)
    /// A stream by this name already exists.
    case streamExists(String)
    /// The stream is closed.
    case closed
    /// The stream was opened read-only (offline inspection); it takes no writes.
    case readOnly
    /// A file operation failed (a full disk is `isDiskFull`).
    case io(FileSystemError)
    /// The index (LMDB) failed.
    case index(LMDBError)
    /// zstd failed while writing.
    case compression(ZstdError)
    /// Bytes on disk do not decode: which file, where, and why.
    case corrupt(file: String, offset: Int64, FormatError)
    /// The index points at a record that is not there.
    case indexMismatch(String)
    /// A file of a format version this build does not read.
    case unsupportedFormat(String)
    /// An earlier write failed in a way that left the stream unable to take writes until reopened.
    case needsRecovery(String)

    public var description: String {
        switch self {
        case .invalidSubject(let s, let why): "invalid subject '\(s)': \(why)"
        case .invalidConfig(let why): "invalid stream configuration: \(why)"
        case .messageTooLarge(let size, let limit): "message size \(size) exceeds maximum \(limit)"
        case .limitReached(let which): "maximum \(which) exceeded"
        case .wrongLastSequence(let actual): "wrong last sequence: \(actual)"
        case .wrongLastSubjectSequence(let actual): "wrong last sequence: \(actual)"
        case .wrongLastMessageID(let actual): "wrong last msg ID: \(actual)"
        case .notAStream(let path): "\(path) is not a stream directory (no stream.json)"
        case .locked(let path): "\(path) is locked by another process"
        case .streamExists(let name): "stream \(name) already exists"
        case .closed: "stream is closed"
        case .readOnly: "stream is open read-only"
        case .io(let e): "I/O error: \(e)"
        case .index(let e): "index error: \(e)"
        case .compression(let e): "compression error: \(e)"
        case .corrupt(let file, let offset, let why): "corrupt data in \(file) at offset \(offset): \(why)"
        case .indexMismatch(let what): "index does not match the log: \(what)"
        case .unsupportedFormat(let what): "unsupported format: \(what)"
        case .needsRecovery(let why): "stream needs recovery (reopen it): \(why)"
        }
    }

    /// True when the error is a full disk or quota.
    public var isDiskFull: Bool {
        if case .io(let e) = self { return e.isDiskFull }
        return false
    }

    /// A failure of the moment, not of the stream: out of file descriptors or memory, interrupted, or the
    /// stream closed for the server's stop. Trying again later may succeed; nothing about the stored data is
    /// wrong.
    public var isTransient: Bool {
        let transient: Set<Int32> = [EMFILE, ENFILE, ENOMEM, EAGAIN, EINTR]
        switch self {
        case .closed: return true
        case .io(let e): return transient.contains(e.errno)
        case .index(let e): return transient.contains(e.code)
        default: return false
        }
    }
}

extension StoreError {
    /// Wraps an error from a lower layer in the matching case (file system, LMDB, zstd, format).
    static func wrap(_ error: any Error) -> StoreError {
        switch error {
        case let error as StoreError: error
        case let error as FileSystemError: .io(error)
        case let error as LMDBError: .index(error)
        case let error as ZstdError: .compression(error)
        default: .indexMismatch("\(error)")
        }
    }
}

extension StoreError {
    /// Runs `body`, returning its value or its error wrapped as a ``StoreError``.
    static func capture<T>(_ body: () throws -> T) -> Result<T, StoreError> {
        do { return .success(try body()) } catch { return .failure(wrap(error)) }
    }
}
