import CLMDB

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

    let handle: OpaquePointer
    public let path: String
    /// Held shared by every transaction and exclusively by ``growMap()``: LMDB requires that no
    /// transaction be active in the process while the map is resized.
    private let resizeLock = ReadWriteLock()

    /// Opens (creating if needed) the environment in the directory `path`.
    /// - Parameters:
    ///   - mapSize: the initial map size; with ``Durability/deferred`` (which maps writably) the file is
    ///     this large, so it starts small and ``growMap()`` doubles it when a write finds the map full.
    ///   - maxDatabases: how many named databases may be opened.
    public init(path: String, mapSize: Int = 32 << 20, maxDatabases: UInt32 = 16,
                maxReaders: UInt32 = 512, durability: Durability = .synchronous,
                readOnly: Bool = false) throws {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: MDB_PANIC, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, maxReaders), "mdb_env_set_maxreaders")
            var flags = UInt32(MDB_NOTLS)
            if durability == .deferred && !readOnly { flags |= UInt32(MDB_NOSYNC) | UInt32(MDB_WRITEMAP) }
            if readOnly { flags |= UInt32(MDB_RDONLY) }
            try check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.path = path
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
        let txn = try Transaction(environment: self, readOnly: true)
        defer { txn.abort() }
        return try body(txn)
    }

    /// Runs `body` in a write transaction, committed when `body` returns and aborted when it throws.
    /// The whole closure runs on the calling thread, as LMDB requires.
    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        resizeLock.lockShared()
        defer { resizeLock.unlock() }
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

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Doubles the map size (after a write failed with ``LMDBError/mapFull``). Waits for every
    /// transaction of the process to end; must not be called from inside one.
    public func growMap() throws {
        resizeLock.lockExclusive()
        defer { resizeLock.unlock() }
        try check(mdb_env_set_mapsize(handle, mapSize * 2), "mdb_env_set_mapsize")
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
}
