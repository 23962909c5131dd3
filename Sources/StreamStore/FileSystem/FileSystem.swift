/// The one seam through which the log does all its file I/O (the LMDB index does its own).
///
/// ``POSIXFileSystem`` is the real implementation; tests wrap it in ``FaultInjectingFileSystem`` to fail the
/// Nth write or sync, to write short, or to simulate a full disk. Every method throws ``FileSystemError``
/// carrying the path, the operation and the errno.
public protocol FileSystem: Sendable {
    /// Opens `path`; with `create`, creates it when missing (mode 0644).
    func open(_ path: String, create: Bool) throws -> any FileHandle
    /// Opens an existing `path` for reading only (what readers use: it works on a read-only file system).
    func openForReading(_ path: String) throws -> any FileHandle
    func createDirectory(_ path: String) throws
    /// Names of the entries of a directory (not `.` or `..`), unsorted.
    func contentsOfDirectory(_ path: String) throws -> [String]
    func exists(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
    func remove(_ path: String) throws
    /// Atomically replaces `destination` with `source` (rename(2)).
    func rename(_ source: String, to destination: String) throws
    /// Syncs a directory, so that creations, renames and removals in it are durable.
    func syncDirectory(_ path: String) throws
    /// Syncs the whole file system holding `path` (syncfs(2)): every file written there, with one device flush
    /// instead of one per file (a new stream's files).
    func syncFileSystem(containing path: String) throws
}

/// An open file. Positioned reads and writes only; the handle is closed on `deinit`.
public protocol FileHandle: AnyObject, Sendable {
    var path: String { get }
    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (fewer at the end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    func size() throws -> Int64
    func truncate(to size: Int64) throws
    /// fdatasync(2): the file's data (and the size needed to read it) is on disk.
    func sync() throws
}

extension FileHandle {
    /// Reads exactly `count` bytes at `offset`, or fewer at the end of the file.
    public func read(count: Int, at offset: Int64) throws -> [UInt8] {
        // (not zeroed first: only the bytes read are kept)
        try [UInt8](unsafeUninitializedCapacity: count) { (buffer, initialized) throws in
            initialized = try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { (raw) throws in try write(raw, at: offset) }
    }
}

/// A failed file operation: which, on what path, and the errno.
public struct FileSystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let operation: String
    public let path: String
    public let errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// True for ENOSPC and EDQUOT: the disk (or quota) is full.
    public var isDiskFull: Bool { errno == 28 || errno == 122 }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerrorText(errno))) (errno \(errno))"
    }
}

#if canImport(Glibc)
import Glibc
private func strerrorText(_ code: Int32) -> UnsafeMutablePointer<CChar> { strerror(code) }
#else
import Darwin
private func strerrorText(_ code: Int32) -> UnsafeMutablePointer<CChar> { strerror(code) }
#endif
