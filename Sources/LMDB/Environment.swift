import CLMDB
#if canImport(Glibc)
import Glibc
#endif

/// An LMDB environment: one memory-mapped database file holding named databases.
///
/// Owns the `MDB_env` handle and closes it in `deinit`. Always opened with `MDB_NOTLS`, so read
/// transactions are not tied to threads; write transactions must begin and end on one thread, which
/// ``write(_:)`` guarantees by taking a non-async closure. Readers never block the writer (MVCC).
public final class Environment: @unchecked Sendable {
    /// How commits reach the disk.
    public enum Durability: Sendable {
        /// Every commit is synced (`fdatasync`) before it returns.
        case synchronous
        /// Commits are not synced; call ``sync()``. A system crash may lose recent commits, and with
        /// it the database can be corrupt: use only where the data can be rebuilt (derived indexes).
        case deferred
    }

    /// Replaced only by ``compact(databases:)``, holding `resizeLock` exclusively; read under it.
    private(set) var handle: OpaquePointer
    public let path: String
    /// Held shared by every transaction and exclusively by ``growMap()`` and ``compact(databases:)``:
    /// LMDB requires that no transaction be active in the process while the map is resized or closed.
    private let resizeLock = ReadWriteLock()
    private let settings: (maxDatabases: UInt32, maxReaders: UInt32, flags: UInt32)
    /// Set when a compaction could not reopen the file: every transaction then fails instead of using a
    /// closed handle (the file on disk is whole; reopening the environment works).
    private var closedBecause: String?

    /// Opens (creating if needed) the environment in the directory `path`.
    /// - Parameters:
    ///   - mapSize: the initial map size; with ``Durability/deferred`` (which maps writably) the file is
    ///     this large, so it starts small and ``growMap()`` grows it when a write finds the map full.
    ///   - maxDatabases: how many named databases may be opened.
    public init(path: String, mapSize: Int = 32 << 20, maxDatabases: UInt32 = 16,
                maxReaders: UInt32 = 512, durability: Durability = .synchronous,
                readOnly: Bool = false) throws {
        var flags = UInt32(MDB_NOTLS)
        if durability == .deferred && !readOnly { flags |= UInt32(MDB_NOSYNC) | UInt32(MDB_WRITEMAP) }
        if readOnly { flags |= UInt32(MDB_RDONLY) }
        self.settings = (maxDatabases, maxReaders, flags)
        self.handle = try Environment.open(path, mapSize: mapSize, settings: settings)
        self.path = path
    }

    private static func open(_ path: String, mapSize: Int, settings: (maxDatabases: UInt32, maxReaders: UInt32, flags: UInt32)) throws -> OpaquePointer {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: MDB_PANIC, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_set_maxdbs(env, settings.maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, settings.maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_open(env, path, settings.flags, 0o644), "mdb_env_open(\(path))")
            // (a file keeps the map size it was last used with, and LMDB opens it with the larger of the two: the
            // map is set back to the size asked for, which LMDB raises to what the data needs)
            var info = MDB_envinfo()
            mdb_env_info(env, &info)
            if mapSize < info.me_mapsize { _ = mdb_env_set_mapsize(env, mapSize); mdb_env_info(env, &info) }
            if settings.flags & UInt32(MDB_WRITEMAP) != 0 { try reserveSpace(env, info.me_mapsize) }
        } catch {
            mdb_env_close(env)
            throw error
        }
        return env
    }

    deinit { mdb_env_close(handle) }

    /// Opens a named database, creating it when `create` is true.
    public func openDatabase(_ name: String, create: Bool = true) throws -> Database {
        try write { txn throws in try txn.openDatabase(name, create: create) }
    }

    /// Opens existing named databases in a read-only transaction that is committed, so the handles stay
    /// valid (LMDB closes handles opened in a transaction that is aborted). For read-only environments.
    /// `sortedFixedDuplicates` names the databases created with that flag.
    public func openExistingDatabases(_ names: [String], sortedFixedDuplicates: Set<String> = []) throws -> [Database] {
        resizeLock.lockShared()
        defer { resizeLock.unlock() }
        let txn = try Transaction(environment: self, readOnly: true)
        do {
            let handles = try names.map { try txn.openDatabase($0, create: false, sortedFixedDuplicates: sortedFixedDuplicates.contains($0)) }
            try txn.commit()
            return handles
        } catch {
            txn.abort()
            throw error
        }
    }

    /// Runs `body` in a read-only transaction (a consistent snapshot). The transaction and every
    /// buffer it hands out are valid only inside `body`.
    public func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        resizeLock.lockShared()
        defer { resizeLock.unlock() }
        if let closedBecause { throw LMDBError(code: MDB_PANIC, operation: closedBecause) }
        let txn = try Transaction(environment: self, readOnly: true)
        defer { txn.abort() }
        return try body(txn)
    }

    /// Runs `body` in a write transaction, committed when `body` returns and aborted when it throws.
    /// The whole closure runs on the calling thread, as LMDB requires.
    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        resizeLock.lockShared()
        defer { resizeLock.unlock() }
        if let closedBecause { throw LMDBError(code: MDB_PANIC, operation: closedBecause) }
        let txn = try Transaction(environment: self, readOnly: false)
        let result: T
        do {
            result = try body(txn)
        } catch {
            txn.abort()
            throw error
        }
        try txn.commit()
        return result
    }

    /// Runs `body` in a write transaction like ``write(_:)``; when the map is full, the transaction is
    /// aborted, the map grown (``growMap(again:)``) and `body` run again from the start, up to 24 times, so
    /// `body` must be repeatable. Lets a map start small and grow with its data: the first growth of a write is
    /// the small step of ``grownMapSize(from:)``, so the file stays close to what it holds; a write that fills
    /// the grown map too doubles it from then on, so a large transaction (an index rebuilt in one) runs again
    /// a logarithmic few times, not once per small step.
    public func writeGrowingMap<T>(_ body: (Transaction) throws -> T) throws -> T {
        for attempt in 0..<24 {
            do {
                return try write(body)
            } catch let error as LMDBError where error == .mapFull {
                try growMap(again: attempt > 0)
            }
        }
        throw LMDBError.mapFull
    }

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Grows the map (after a write failed with ``LMDBError/mapFull``) to ``grownMapSize(from:)``, or to twice
    /// its size when `again` (the same write filled the map after a growth). Waits for every transaction of the
    /// process to end; must not be called from inside one.
    public func growMap(again: Bool = false) throws {
        resizeLock.lockExclusive()
        defer { resizeLock.unlock() }
        let old = mapSize
        let new = again ? max(old * 2, Environment.grownMapSize(from: old)) : Environment.grownMapSize(from: old)
        try check(mdb_env_set_mapsize(handle, new), "mdb_env_set_mapsize")
        guard settings.flags & UInt32(MDB_WRITEMAP) != 0 else { return }
        do {
            try Environment.reserveSpace(handle, new)
        } catch {
            // (the map goes back to what has room on disk; the write that needed more fails with the error)
            _ = mdb_env_set_mapsize(handle, old)
            throw error
        }
    }

    /// The map size after `old` is found full: half as large again below 1 MiB, then a quarter larger (at
    /// least 1 MiB more), in whole 4 KiB pages. The map is allocated on disk whole (``reserveSpace``), so the
    /// step is the disk an index holds beyond its pages: doubling left a file up to twice its data (an index of
    /// 12.4 MiB of pages in a 17.6 MiB file), a quarter leaves at most 1.25 times (1 MiB more below 4 MiB). A small index (a stream of a
    /// few messages) needs a few pages more than its first 64 KiB; doubling there cost 64 KiB per small stream.
    public static func grownMapSize(from old: Int) -> Int {
        let grown = old < 1 << 20 ? old + max(old / 2, 4096) : old + max(old / 4, 1 << 20)
        return (grown + 4095) / 4096 * 4096
    }

    /// Allocates the map file's blocks up to `size`. With `MDB_WRITEMAP` LMDB writes pages through the mapping
    /// of a file it only extends (sparse): on a full file system, the first store to a page without a block is a
    /// SIGBUS that kills the process. Allocated first, a full disk is an error (`ENOSPC`) that the write returns.
    private static func reserveSpace(_ env: OpaquePointer, _ size: Int) throws {
        var fd: Int32 = -1
        try check(mdb_env_get_fd(env, &fd), "mdb_env_get_fd")
        let code = posix_fallocate(fd, 0, off_t(size))
        // (EINVAL / EOPNOTSUPP: a file system that cannot allocate ahead; the mapping then stays sparse, as before)
        if code != 0 && code != EINVAL && code != EOPNOTSUPP { throw LMDBError(code: code, operation: "posix_fallocate(\(size) bytes)") }
    }

    /// Flushes committed data to disk (needed with ``Durability/deferred``).
    public func sync() throws {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync")
    }

    /// Bytes of the map in use (pages in use × page size).
    public func usedBytes() throws -> Int {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        try check(mdb_env_info(handle, &info), "mdb_env_info")
        try check(mdb_env_stat(handle, &stat), "mdb_env_stat")
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }

    /// False once a failed compaction left the environment closed (every transaction then fails).
    public var isUsable: Bool {
        resizeLock.lockShared()
        defer { resizeLock.unlock() }
        return closedBecause == nil
    }

    /// Pages of the file (up to the highest ever used) and pages the trees of `databases` and the
    /// environment's own databases hold now; the difference is free pages the file keeps.
    public func pages(of databases: [Database]) throws -> (file: Int, live: Int) {
        try read { txn in
            var info = MDB_envinfo()
            try check(mdb_env_info(handle, &info), "mdb_env_info")
            var live = 2  // the two meta pages
            for dbi in [MDB_dbi(0), MDB_dbi(1)] + databases.map(\.dbi) {
                var stat = MDB_stat()
                try check(mdb_stat(txn.handle, dbi, &stat), "mdb_stat")
                live += Int(stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages)
            }
            return (info.me_last_pgno + 1, live)
        }
    }

    /// The page size.
    public var pageSize: Int {
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return Int(stat.ms_psize)
    }

    /// Rewrites the file without its free pages (`mdb_env_copy2` with `MDB_CP_COMPACT`), so that a
    /// database that grew and then shrank gives its space back; committed data is unchanged. Every
    /// transaction of the process waits meanwhile (as for ``growMap()``). The copy is synced and renamed
    /// over `data.mdb` (a crash leaves the old file or the new, both whole), and the environment reopened.
    /// `databases` (name, handle, sorted fixed duplicates) are every named database the process opened:
    /// they are reopened in their handles' order and must get the same handles, which a trial open of the
    /// copy checks before anything is replaced (else nothing changes and this throws).
    public func compact(databases: [(name: String, handle: Database, sortedFixedDuplicates: Bool)]) throws {
        resizeLock.lockExclusive()
        defer { resizeLock.unlock() }
        if let closedBecause { throw LMDBError(code: MDB_PANIC, operation: closedBecause) }
        let copy = path + ".compact"
        let fm = FileManagerShim.self
        fm.removeTree(copy)
        guard mkdir(copy, 0o755) == 0 else { throw LMDBError(code: errno, operation: "mkdir(\(copy))") }
        defer { fm.removeTree(copy) }
        try check(mdb_env_copy2(handle, copy, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2")
        try fm.sync(copy + "/data.mdb")
        let mapSize = self.mapSize
        let ordered = databases.sorted { $0.handle.dbi < $1.handle.dbi }
        func reopenAll(_ env: OpaquePointer) throws -> Bool {
            var txn: OpaquePointer?
            try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
            var same = true
            for database in ordered {
                var dbi: MDB_dbi = 0
                let flags = database.sortedFixedDuplicates ? UInt32(MDB_DUPSORT) | UInt32(MDB_DUPFIXED) : 0
                let code = mdb_dbi_open(txn, database.name, flags, &dbi)
                if code != 0 { mdb_txn_abort(txn); try check(code, "mdb_dbi_open(\(database.name))") }
                same = same && dbi == database.handle.dbi
            }
            try check(mdb_txn_commit(txn), "mdb_txn_commit")
            return same
        }
        // A trial open of the copy (another path, so another environment may have it open).
        let trial = try Environment.open(copy, mapSize: mapSize, settings: settings)
        let matches: Bool
        do { matches = try reopenAll(trial) } catch { mdb_env_close(trial); throw error }
        // The pages the compacted data uses: the copy is cut to them (opening it allocated its whole map).
        var trialInfo = MDB_envinfo(), trialStat = MDB_stat()
        mdb_env_info(trial, &trialInfo)
        mdb_env_stat(trial, &trialStat)
        let used = (trialInfo.me_last_pgno + 1) * Int(trialStat.ms_psize)
        mdb_env_close(trial)
        guard truncate(copy + "/data.mdb", off_t(used)) == 0 else { throw LMDBError(code: errno, operation: "truncate(\(copy)/data.mdb)") }
        guard matches else { throw LMDBError(code: MDB_INCOMPATIBLE, operation: "compact: database handles would change") }

        mdb_env_close(handle)
        do {
            guard rename(copy + "/data.mdb", path + "/data.mdb") == 0 else { throw LMDBError(code: errno, operation: "rename(\(copy)/data.mdb)") }
            try fm.sync(path)
            // The map fitted to the compacted file (twice it, in the doubling steps from the old size down): with
            // MDB_WRITEMAP the whole map is allocated on disk (reserveSpace), so the old peak map would keep the
            // blocks the compaction gave back.
            var fitted = mapSize
            while fitted / 2 >= used * 2 && fitted / 2 >= 64 << 10 { fitted /= 2 }
            handle = try Environment.open(path, mapSize: fitted, settings: settings)
            _ = try reopenAll(handle)
        } catch {
            closedBecause = "environment \(path) closed after a failed compaction (\(error)); reopen it"
            throw error
        }
    }
}

/// The few file operations compaction needs, over POSIX (the module has no Foundation).
enum FileManagerShim {
    static func sync(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LMDBError(code: errno, operation: "open(\(path))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw LMDBError(code: errno, operation: "fsync(\(path))") }
    }

    /// Removes a directory of plain files (a copy's data.mdb and lock.mdb), if it exists.
    static func removeTree(_ path: String) {
        for name in ["data.mdb", "lock.mdb"] { unlink(path + "/" + name) }
        rmdir(path)
    }
}
