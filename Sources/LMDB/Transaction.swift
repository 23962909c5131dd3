import CLMDB

/// A transaction, valid only inside the ``Environment/read(_:)`` or ``Environment/write(_:)``
/// closure that handed it out. Buffers returned by ``get(_:key:)`` and cursors point into the map
/// and are valid only until the transaction ends (and, for writes, until the next change).
public struct Transaction {
    let handle: OpaquePointer
    public let isReadOnly: Bool

    init(environment: Environment, readOnly: Bool) throws {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(environment.handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn),
                  "mdb_txn_begin")
        self.handle = txn!
        self.isReadOnly = readOnly
    }

    func commit() throws { try check(mdb_txn_commit(handle), "mdb_txn_commit") }
    func abort() { mdb_txn_abort(handle) }

    /// Opens (or creates) a named database within this write transaction.
    public func openDatabase(_ name: String, create: Bool) throws -> Database {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(handle, name, create ? UInt32(MDB_CREATE) : 0, &dbi),
                  "mdb_dbi_open(\(name))")
        return Database(dbi: dbi)
    }

    /// The value stored under `key`, or nil.
    public func get(_ db: Database, key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// Stores `value` under `key`, replacing any value.
    public func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                    append: Bool = false) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(handle, db.dbi, &k, &v, append ? UInt32(MDB_APPEND) : 0), "mdb_put")
    }

    /// Removes `key`; returns false when it was not there.
    @discardableResult
    public func delete(_ db: Database, key: UnsafeRawBufferPointer) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(handle, db.dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del")
        return true
    }

    /// Removes every entry of `db`.
    public func clear(_ db: Database) throws {
        try check(mdb_drop(handle, db.dbi, 0), "mdb_drop")
    }

    /// Number of entries in `db`.
    public func count(_ db: Database) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(handle, db.dbi, &stat), "mdb_stat")
        return stat.ms_entries
    }

    /// Bytes of pages used by `db` (branch, leaf and overflow pages).
    public func pageBytes(_ db: Database) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(handle, db.dbi, &stat), "mdb_stat")
        return (stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages) * Int(stat.ms_psize)
    }

    /// Runs `body` with a cursor over `db`, closed when `body` returns.
    public func withCursor<T>(_ db: Database, _ body: (inout Cursor) throws -> T) throws -> T {
        var cursor = try Cursor(transaction: self, database: db)
        defer { cursor.close() }
        return try body(&cursor)
    }
}

// Keys and values from any byte source (arrays, strings, inline bytes).
extension Transaction {
    public func get(_ db: Database, key: some ByteSource) throws -> UnsafeRawBufferPointer? {
        try key.withBytes { k in try get(db, key: k) }
    }

    public func put(_ db: Database, key: some ByteSource, value: some ByteSource, append: Bool = false) throws {
        try key.withBytes { k in try value.withBytes { v in try put(db, key: k, value: v, append: append) } }
    }

    @discardableResult
    public func delete(_ db: Database, key: some ByteSource) throws -> Bool {
        try key.withBytes { k in try delete(db, key: k) }
    }
}
