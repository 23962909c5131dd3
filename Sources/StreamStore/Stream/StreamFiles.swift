#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// The stream directory's small files: segment headers, the config, the lock (Specs/StoreLayout.md).
enum StreamFiles {

    /// `sync` false: the caller syncs (a new stream's files are synced together).
    static func writeSegmentHeader(fileSystem: any FileSystem, path: String, firstSequence: UInt64, sync: Bool = true) throws {
        let handle = try fileSystem.open(path, create: true)
        try handle.truncate(to: 0)
        try handle.write(SegmentHeader(firstSequence: firstSequence).encoded(), at: 0)
        if sync { try handle.sync() }
    }

    /// `sync` false: written in place without a sync (a new stream's, synced with the rest); otherwise replaced
    /// durably (``DurableFile``).
    static func writeConfig(_ config: StreamConfig, paths: StreamPaths, fileSystem: any FileSystem, sync: Bool = true) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // (try?: encoding a plain Codable config cannot fail (answered as invalid config if it did))
        guard let data = try? encoder.encode(config) else { throw StoreError.invalidConfig("cannot encode config") }
        if sync {
            try DurableFile.write(Array(data), to: paths.config, in: paths.root, fileSystem: fileSystem)
        } else {
            try write(Array(data), to: paths.config, fileSystem: fileSystem)
        }
    }

    /// Writes a new file without syncing it.
    static func write(_ bytes: [UInt8], to path: String, fileSystem: any FileSystem) throws {
        let handle = try fileSystem.open(path, create: true)
        try handle.truncate(to: 0)
        try handle.write(bytes, at: 0)
    }

    static func readConfig(paths: StreamPaths) throws -> StreamConfig {
        guard let data = FileManager.default.contents(atPath: paths.config) else {
            throw StoreError.io(FileSystemError(operation: "read", path: paths.config, errno: errno))
        }
        do {
            return try JSONDecoder().decode(StreamConfig.self, from: data)
        } catch {
            throw StoreError.invalidConfig("\(paths.config) does not decode: \(error)")
        }
    }

    /// Takes the stream's exclusive lock (flock on `LOCK`), or throws `locked`.
    static func acquireLock(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw StoreError.io(FileSystemError(operation: "open", path: path, errno: errno)) }
        // A child this process forks (a tool, a test's helper) shares the lock's open file until it execs,
        // which closes it (O_CLOEXEC): a stream closed and reopened in that window finds it held for a
        // moment. A lock still held after ~100 ms is another owner.
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EWOULDBLOCK && attempts < 50 {
                attempts += 1
                usleep(2_000)
                continue
            }
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw StoreError.locked(path: path) }
            throw StoreError.io(FileSystemError(operation: "flock", path: path, errno: code))
        }
        return fd
    }
}

/// A small file replaced whole and durably: written to `<path>.tmp`, synced, renamed over `path`, and the
/// directory synced, so that after a crash the file is either the old one or the new one, complete.
public enum DurableFile {
    public static func write(_ bytes: [UInt8], to path: String, in directory: String) throws {
        try write(bytes, to: path, in: directory, fileSystem: POSIXFileSystem())
    }

    static func write(_ bytes: [UInt8], to path: String, in directory: String, fileSystem: any FileSystem) throws {
        let temporary = path + ".tmp"
        do {
            let handle = try fileSystem.open(temporary, create: true)
            try handle.truncate(to: 0)
            try handle.write(bytes, at: 0)
            try handle.sync()
            try fileSystem.rename(temporary, to: path)
            try fileSystem.syncDirectory(directory)
        } catch {
            throw StoreError.wrap(error)
        }
    }
}
