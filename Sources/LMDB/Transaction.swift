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

    /// Opens (or creates) a named database within this write transaction. With `sortedFixedDuplicates`
    /// (`MDB_DUPSORT | MDB_DUPFIXED`) a key holds a sorted set of equal-sized values, packed without a
    /// per-value header; the flag must be the same every time the database is opened.
    public func openDatabase(_ name: String, create: Bool, sortedFixedDuplicates: Bool = false) throws -> Database {
        var dbi: MDB_dbi = 0
        var flags = create ? UInt32(MDB_CREATE) : 0
        if sortedFixedDuplicates { flags |= UInt32(MDB_DUPSORT) | UInt32(MDB_DUPFIXED) }
        try check(mdb_dbi_open(handle, name, flags, &dbi), "mdb_dbi_open(\(name))")
        return Database(dbi: dbi)
    }

    /// Deletes a database and its handle (`mdb_drop(…, 1)`), so it can be created again with other flags.
    public func drop(_ db: Database) throws {
        try check(mdb_drop(handle, db.dbi, 1), "mdb_drop")
    }

    /// Removes one value of a key in a database with duplicates; returns false when it was not there.
    @discardableResult
    public func delete(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_del(handle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del")
        return true
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
    /// `append`: the key sorts after every key of `db` (`MDB_APPEND`, pages filled completely);
    /// `appendDuplicate`: the value sorts after every value of the key (`MDB_APPENDDUP`).
    public func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                    append: Bool = false, appendDuplicate: Bool = false) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        var flags: UInt32 = append ? UInt32(MDB_APPEND) : 0
        if appendDuplicate { flags |= UInt32(MDB_APPENDDUP) }
        try check(mdb_put(handle, db.dbi, &k, &v, flags), "mdb_put")
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

    public func put(_ db: Database, key: some ByteSource, value: some ByteSource, append: Bool = false,
                    appendDuplicate: Bool = false) throws {
        try key.withBytes { k in try value.withBytes { v in try put(db, key: k, value: v, append: append, appendDuplicate: appendDuplicate) } }
    }

    @discardableResult
    public func delete(_ db: Database, key: some ByteSource) throws -> Bool {
        try key.withBytes { k in try delete(db, key: k) }
    }

    @discardableResult
    public func delete(_ db: Database, key: some ByteSource, value: some ByteSource) throws -> Bool {
        try key.withBytes { k in try value.withBytes { v in try delete(db, key: k, value: v) } }
    }
}
