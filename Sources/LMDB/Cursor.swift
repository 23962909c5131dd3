import CLMDB

/// A cursor over one database, scoped to ``Transaction/withCursor(_:_:)``. Positioning methods
/// return the entry they land on, or nil when there is none; the buffers are valid until the cursor
/// moves or the transaction changes or ends.
public struct Cursor {
    /// One key/value pair, pointing into the map.
    public struct Entry {
        public let key: UnsafeRawBufferPointer
        public let value: UnsafeRawBufferPointer
    }

    let handle: OpaquePointer

    init(transaction: Transaction, database: Database) throws {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(transaction.handle, database.dbi, &cursor), "mdb_cursor_open")
        self.handle = cursor!
    }

    func close() { mdb_cursor_close(handle) }

    private func op(_ operation: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil, value: UnsafeRawBufferPointer? = nil) throws -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val(mv_size: value?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: value?.baseAddress))
        let rc = mdb_cursor_get(handle, &k, &v, operation)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get")
        return Entry(key: UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                     value: UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    public func first() throws -> Entry? { try op(MDB_FIRST) }
    public func last() throws -> Entry? { try op(MDB_LAST) }
    public func next() throws -> Entry? { try op(MDB_NEXT) }
    public func previous() throws -> Entry? { try op(MDB_PREV) }
    public func current() throws -> Entry? { try op(MDB_GET_CURRENT) }
    /// The first entry whose key is greater than or equal to `key`.
    public func seek(atOrAfter key: UnsafeRawBufferPointer) throws -> Entry? { try op(MDB_SET_RANGE, key: key) }
    public func seek(atOrAfter key: some ByteSource) throws -> Entry? {
        try key.withBytes { k in try op(MDB_SET_RANGE, key: k) }
    }
    /// The last entry whose key is less than or equal to `key`.
    public func seek(atOrBefore key: some ByteSource) throws -> Entry? {
        if let entry = try seek(atOrAfter: key) {
            if key.withBytes({ entry.key.elementsEqual($0) }) { return entry }
            return try previous()
        }
        return try last()
    }

    // Databases with sorted duplicates.

    /// The first value of `key` that is greater than or equal to `value` (`MDB_GET_BOTH_RANGE`).
    public func seek(key: some ByteSource, valueAtOrAfter value: some ByteSource) throws -> Entry? {
        try key.withBytes { k in try value.withBytes { v in try op(MDB_GET_BOTH_RANGE, key: k, value: v) } }
    }
    /// The next value of the current key (`MDB_NEXT_DUP`), or nil after its last.
    public func nextDuplicate() throws -> Entry? { try op(MDB_NEXT_DUP) }
    /// The previous value of the current key (`MDB_PREV_DUP`), or nil before its first.
    public func previousDuplicate() throws -> Entry? { try op(MDB_PREV_DUP) }
    /// How many values the current key holds.
    public func duplicateCount() throws -> Int {
        var count = 0
        try check(mdb_cursor_count(handle, &count), "mdb_cursor_count")
        return count
    }

    /// Replaces the value of the entry under the cursor (`MDB_CURRENT`; write transactions only, not for
    /// databases with sorted duplicates). `key` must be the entry's key. Costs no search of the tree.
    public func replaceCurrent(key: some ByteSource, value: some ByteSource) throws {
        try key.withBytes { k in
            try value.withBytes { v in
                var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
                var vv = MDB_val(mv_size: v.count, mv_data: UnsafeMutableRawPointer(mutating: v.baseAddress))
                try check(mdb_cursor_put(handle, &kv, &vv, UInt32(MDB_CURRENT)), "mdb_cursor_put")
            }
        }
    }

    /// Deletes the entry under the cursor (write transactions only).
    public func deleteCurrent() throws { try check(mdb_cursor_del(handle, 0), "mdb_cursor_del") }
}
