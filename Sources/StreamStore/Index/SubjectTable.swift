import LMDB

/// The writer's copy of the `subjects` database's entries, kept across write transactions, so that appending
/// to a subject the stream already holds does not look its entry up in LMDB (a B-tree search by name) in every
/// batch that touches it.
///
/// It is a cache of committed entries plus the changes of the transaction under way, and an undo log of those
/// changes: ``commit()`` forgets the log once LMDB has committed, ``rollBack()`` puts the old entries back when
/// the transaction did not commit. A name it does not hold is unknown (LMDB has the answer), not absent. Used
/// only inside ``IndexStore/write(_:)``, which serialises writes: no lock of its own.
final class SubjectTable: @unchecked Sendable {
    /// A subject's entry as this transaction sees it (nil: the subject has no messages), whether this
    /// transaction changed it, and which transaction last touched it.
    private struct Slot {
        var entry: SubjectEntry?
        var dirty: Bool
        var touchedIn: UInt64
    }

    /// The most names kept; past it, the table is emptied at the next commit (and fills again from LMDB).
    let capacity: Int
    private var slots: [String: Slot] = [:]
    /// The transaction under way (slots touched in an earlier one have a lower number).
    private var transaction: UInt64 = 1
    /// Names touched in this transaction and their slots before it (nil: the table did not hold the name).
    private var undo: [(name: String, before: Slot?)] = []
    /// ``clear()`` was called in this transaction.
    private var clearedInTransaction = false

    init(capacity: Int = 65_536) { self.capacity = capacity }

    var count: Int { slots.count }

    /// The subject's entry: from the table, or else from `txn` (and kept).
    func entry(_ name: String, in txn: Transaction, database: Database) throws -> SubjectEntry? {
        if let index = slots.index(forKey: name) {
            if slots.values[index].touchedIn != transaction {
                undo.append((name, slots.values[index]))
                slots.values[index].touchedIn = transaction
            }
            return slots.values[index].entry
        }
        let entry = try txn.get(database, key: name).flatMap(SubjectEntry.init)
        undo.append((name, nil))
        slots[name] = Slot(entry: entry, dirty: false, touchedIn: transaction)
        return entry
    }

    /// Sets the subject's entry (nil: it has no messages left) in this transaction. The name must have been
    /// read through ``entry(_:in:database:)`` in this transaction first.
    func set(_ name: String, _ entry: SubjectEntry?) {
        if let index = slots.index(forKey: name), slots.values[index].touchedIn == transaction {
            slots.values[index].entry = entry
            slots.values[index].dirty = true
        } else {
            // Not read first (not done by the index writer): record it as touched all the same.
            undo.append((name, slots[name]))
            slots[name] = Slot(entry: entry, dirty: true, touchedIn: transaction)
        }
    }

    /// Calls `write` with every entry this transaction changed (nil: delete it), once each.
    func forEachChange(_ write: (String, SubjectEntry?) throws -> Void) rethrows {
        for (name, _) in undo {
            guard let index = slots.index(forKey: name), slots.values[index].dirty, slots.values[index].touchedIn == transaction else { continue }
            slots.values[index].dirty = false
            try write(name, slots.values[index].entry)
        }
    }

    /// The index was emptied in this transaction: every entry is forgotten (from LMDB's answer, not absent).
    func clear() {
        clearedInTransaction = true
        // The old slots are not needed to roll back: that empties the table anyway.
        slots.removeAll()
        undo.removeAll()
    }

    /// The transaction committed: its changes are the committed entries now.
    func commit() {
        undo.removeAll(keepingCapacity: true)
        clearedInTransaction = false
        if slots.count > capacity { slots.removeAll() }
        transaction += 1
    }

    /// The transaction did not commit: the entries are as before it (an emptied table stays empty: it only
    /// forgets, and LMDB answers again).
    func rollBack() {
        if clearedInTransaction {
            slots.removeAll()
        } else {
            for (name, before) in undo.reversed() { slots[name] = before }
        }
        undo.removeAll(keepingCapacity: true)
        clearedInTransaction = false
        transaction += 1
    }
}
