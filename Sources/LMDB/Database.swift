import CLMDB

/// A handle to a named database inside an ``Environment``; valid for the environment's life.
public struct Database: Sendable, Hashable {
    let dbi: MDB_dbi
}
