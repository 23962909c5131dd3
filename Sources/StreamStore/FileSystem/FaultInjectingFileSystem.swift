#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// Wraps a file system and fails chosen operations: the Nth write or sync from now, every write
/// (a full disk), every change (a file system remounted read-only), or a short write that leaves only part of
/// the bytes behind; or holds file syncs until
/// released, to look at a stream while its syncs are outstanding. For fault-injection tests of the log;
/// thread-safe.
public final class FaultInjectingFileSystem: FileSystem, @unchecked Sendable {
    /// What to do to writes and syncs.
    public enum Fault: Sendable, Equatable {
        /// The `n`th write from now (1 = the next) fails with `errno` after writing nothing.
        case failWrite(n: Int, errno: Int32)
        /// The `n`th write from now writes only its first `bytes` bytes, then fails with ENOSPC.
        case shortWrite(n: Int, bytes: Int)
        /// The `n`th sync from now fails with EIO.
        case failSync(n: Int)
        /// Every write fails with ENOSPC until the fault is cleared.
        case diskFull
        /// The `n`th rename from now fails with EIO (a crash between the steps of a compaction).
        case failRename(n: Int)
        /// Every write, sync, truncation, creation, rename and removal fails with EROFS until the fault is
        /// cleared, as on a file system the kernel remounted read-only after an error; reads go on.
        case readOnly
    }

    private let base: any FileSystem
    private let lock = Condition()
    private var fault: Fault?
    private var writes = 0, syncs = 0, renames = 0
    private var allSyncs = 0
    private var holding = false
    private var held = 0
    private var holdRound = 0
    private var failingRound: Int?
    /// File syncs (not directory syncs) since the file system was made, whatever was injected.
    public var syncCount: Int { lock.lock(); defer { lock.unlock() }; return allSyncs }

    public init(wrapping base: any FileSystem = POSIXFileSystem()) { self.base = base }

    /// Installs `fault` (replacing any), counting from now.
    public func inject(_ fault: Fault?) {
        lock.lock(); defer { lock.unlock() }
        self.fault = fault
        writes = 0
        syncs = 0
        renames = 0
    }

    /// What a write of `count` bytes should do: nil = go ahead; (written, errno) = fail.
    func onWrite(count: Int) -> (written: Int, errno: Int32)? {
        lock.lock(); defer { lock.unlock() }
        writes += 1
        switch fault {
        case .failWrite(let n, let code) where n == writes: fault = nil; return (0, code)
        case .shortWrite(let n, let bytes) where n == writes: fault = nil; return (min(bytes, count), ENOSPC)
        case .diskFull: return (0, ENOSPC)
        case .readOnly: return (0, EROFS)
        default: return nil
        }
    }

    func onSync() -> Int32? {
        lock.lock(); defer { lock.unlock() }
        syncs += 1
        allSyncs += 1
        if case .failSync(let n) = fault, n == syncs { fault = nil; return EIO }
        if fault == .readOnly { return EROFS }
        if holding {
            let round = holdRound
            held += 1
            lock.broadcast()
            while holding && holdRound == round { lock.wait() }
            held -= 1
            if failingRound == round { return EIO }
        }
        return nil
    }

    /// From now on every file sync waits until ``releaseSyncs(failing:)``.
    public func holdSyncs() {
        lock.lock(); defer { lock.unlock() }
        holding = true
    }

    /// Waits until at least one sync is being held.
    public func waitForHeldSync() {
        lock.lock(); defer { lock.unlock() }
        while held == 0 { lock.wait() }
    }

    /// Lets the held syncs go (failing with EIO when `failing`) and stops holding new ones.
    public func releaseSyncs(failing: Bool) {
        lock.lock(); defer { lock.unlock() }
        failingRound = failing ? holdRound : nil
        holdRound += 1
        holding = false
        lock.broadcast()
    }

    /// Throws EROFS for a change while the file system is read-only.
    func checkWritable(_ operation: String, _ path: String) throws {
        lock.lock()
        let readOnly = fault == .readOnly
        lock.unlock()
        if readOnly { throw FileSystemError(operation: operation + " (injected)", path: path, errno: EROFS) }
    }

    public func open(_ path: String, create: Bool) throws -> any FileHandle {
        if create && !base.exists(path) { try checkWritable("open", path) }
        return FaultInjectingFileHandle(base: try base.open(path, create: create), owner: self)
    }
    public func openForReading(_ path: String) throws -> any FileHandle {
        FaultInjectingFileHandle(base: try base.openForReading(path), owner: self)
    }
    public func createDirectory(_ path: String) throws {
        try checkWritable("mkdir", path)
        try base.createDirectory(path)
    }
    public func contentsOfDirectory(_ path: String) throws -> [String] { try base.contentsOfDirectory(path) }
    public func exists(_ path: String) -> Bool { base.exists(path) }
    public func isDirectory(_ path: String) -> Bool { base.isDirectory(path) }
    public func remove(_ path: String) throws {
        try checkWritable("unlink", path)
        try base.remove(path)
    }
    public func rename(_ source: String, to destination: String) throws {
        try checkWritable("rename", source)
        lock.lock()
        renames += 1
        let fail: Bool
        if case .failRename(let n) = fault, n == renames { fault = nil; fail = true } else { fail = false }
        lock.unlock()
        if fail { throw FileSystemError(operation: "rename (injected)", path: source, errno: EIO) }
        try base.rename(source, to: destination)
    }
    public func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    public func syncFileSystem(containing path: String) throws { try base.syncFileSystem(containing: path) }
}

final class FaultInjectingFileHandle: FileHandle, @unchecked Sendable {
    let base: any FileHandle
    let owner: FaultInjectingFileSystem
    var path: String { base.path }

    init(base: any FileHandle, owner: FaultInjectingFileSystem) {
        self.base = base
        self.owner = owner
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try base.read(into: buffer, at: offset)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        if let (written, code) = owner.onWrite(count: bytes.count) {
            if written > 0 { try base.write(UnsafeRawBufferPointer(rebasing: bytes[0..<written]), at: offset) }
            throw FileSystemError(operation: "pwrite (injected)", path: path, errno: code)
        }
        try base.write(bytes, at: offset)
    }

    func size() throws -> Int64 { try base.size() }
    func truncate(to size: Int64) throws {
        try owner.checkWritable("ftruncate", path)
        try base.truncate(to: size)
    }

    func sync() throws {
        if let code = owner.onSync() { throw FileSystemError(operation: "fdatasync (injected)", path: path, errno: code) }
        try base.sync()
    }
}
