import LMDB
import Platform

/// A stream's LMDB environment and its named databases (Specs/IndexSchema.md).
///
/// The environment is opened with deferred durability: the log is the source of truth and is synced per
/// the stream's policy; the index is synced at checkpoints (segment seal, compaction, close) and is
/// validated against the log on open (Specs/Recovery.md).
final class IndexStore: @unchecked Sendable {
    /// 6: the subject index keeps up to 64 of a subject's sequences to a key, delta-coded (`subjectBlocks`,
    /// ``SubjectBlock``), and a sequence block's entries open with a flag byte that elides the fields repeating
    /// the entry before (``SequenceBlock/Layout/flagged``). A version-5 index's `bySubject` (8-byte packed
    /// duplicates) is converted on open, in place, and dropped, and its sequence blocks are re-encoded.
    /// 5: the sequence index keeps 32 sequences to a key (`seqBlocks`, ``SequenceBlock``); a version-4 index's
    /// `seq` (a key per message) is converted on open, in place, and dropped.
    /// 4: the marker also says where the frames not known durable begin (`unsyncedFrom`, for pipelined
    /// syncs); a version-3 marker (28 bytes) reads as having none, so a version-3 index is only relabelled.
    /// 3: `idSequences` lists the message ids by sequence, so that ids leaving the duplicate window are
    /// pruned in order (a version-2 index gets it built from `messageIDs` on open, in place).
    /// 2: `bySubject` holds, per subject id, its sequences as sorted fixed-size duplicates, and locations
    /// are varint-encoded (1: one (id, sequence) key per message, 40-byte locations). A version-1 index is
    /// emptied on open (consumer records kept) and rebuilt from the log by recovery.
    static let formatVersion: UInt32 = 6
    /// LMDB's key limit is 511 bytes; subjects and message ids longer than this are rejected.
    static let maxKeyBytes = 480
    /// The map (and, mapped writably, the file) a new index starts with; a write that finds it full grows
    /// it (``write(_:)``), so the file grows with its data instead of taking 32 MiB up front. An existing file
    /// opens at its own size.
    static let initialMapBytes = 64 << 10

    let environment: Environment
    /// Wildcard filters' matching subject ids, for read transactions (``IndexReader/matchingSubjectIDs``).
    let subjectIDs = SubjectIDCache()
    /// The writer's subject entries across transactions, used under `writeLock` (``write(_:)``).
    let subjectTable = SubjectTable()
    /// Serialises ``write(_:)`` (LMDB does too; this also covers the subject table around the commit).
    private let writeLock = Lock()
    let meta: Database
    let sequences: Database
    let times: Database
    let subjects: Database
    let subjectNames: Database
    /// Each subject's held sequences (``SubjectSequenceIndex``).
    let subjectSequences: Database
    let messageIDs: Database
    /// Message ids by sequence (u64 BE → timestamp LE · id), for pruning ids in sequence order.
    let idSequences: Database
    /// Consumer records by name (ConsumerRecord as JSON). Not derived from the log: kept across rebuilds.
    let consumers: Database

    /// Empties a version-1 index but for its consumer records: the old `bySubject` is deleted (to be made
    /// again with duplicates), every other derived database cleared, and the marker and state removed, so
    /// that recovery rebuilds the index from the log.
    private static func upgradeFromVersion1(_ txn: Transaction, meta: Database) throws {
        try txn.drop(try txn.openDatabase("bySubject", create: true))
        for name in ["seq", "time", "subjects", "subjectNames", "messageIDs"] { try txn.clear(try txn.openDatabase(name, create: true)) }
        for key in [IndexStore.stateKey, IndexStore.markerKey, IndexStore.compactingKey] { try txn.delete(meta, key: key) }
    }

    /// Adds `idSequences` to a version-2 index from its `messageIDs`, and marks it version 3.
    private static func upgradeFromVersion2(_ txn: Transaction, meta: Database) throws {
        let ids = try txn.openDatabase("messageIDs", create: true)
        let bySequence = try txn.openDatabase("idSequences", create: true)
        var entries: [(key: [UInt8], value: [UInt8])] = []
        try txn.withCursor(ids) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                var key: [UInt8] = []
                key.appendBE(current.value.loadLE(UInt64.self, at: 0))
                var value: [UInt8] = []
                value.appendLE(current.value.loadLE(Int64.self, at: 8))
                value.append(contentsOf: current.key)
                entries.append((key, value))
                entry = try cursor.next()
            }
        }
        for entry in entries { try txn.put(bySequence, key: entry.key, value: entry.value) }
    }

    /// Moves a version-4 index's sequence index (`seq`, a key per message) into blocks of 32 (`seqBlocks`)
    /// and drops `seq`. A version-3 index needs nothing more: its markers decode as they are (nothing
    /// unsynced). Throws `indexMismatch` for a location that does not decode (the index is then rebuilt).
    private static func upgradeSequenceIndex(_ txn: Transaction) throws {
        let old = try txn.openDatabase("seq", create: true)
        let blocks = try txn.openDatabase("seqBlocks", create: true)
        var encoder: SequenceBlockEncoder?
        func flush() throws {
            if let encoder, !encoder.isEmpty { try txn.put(blocks, key: Key.u64(encoder.base), value: encoder.bytes, append: true) }
        }
        try txn.withCursor(old) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                let sequence = current.key.loadBE(UInt64.self, at: 0)
                guard current.key.count == 8, let location = MessageLocation(current.value) else {
                    throw StoreError.indexMismatch("sequence \(sequence) has a malformed location")
                }
                let base = SequenceBlock.base(of: sequence)
                if encoder?.base != base {
                    try flush()
                    encoder = SequenceBlockEncoder(base: base)
                }
                try encoder!.append(sequence, location)
                entry = try cursor.next()
            }
        }
        try flush()
        try txn.drop(old)
    }

    /// Re-encodes a version-5 index's sequence blocks (every field of every entry) in the flagged layout.
    private static func reencodeSequenceBlocks(_ txn: Transaction) throws {
        let blocks = try txn.openDatabase("seqBlocks", create: true)
        var rewritten: [(UInt64, [UInt8])] = []
        try txn.withCursor(blocks) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                guard current.key.count == 8 else { throw StoreError.indexMismatch("a sequence block's key is \(current.key.count) bytes, not 8") }
                let base = current.key.loadBE(UInt64.self, at: 0)
                var decoder = try SequenceBlockDecoder(base: base, raw: current.value, layout: .deltas)
                rewritten.append((base, try SequenceBlockEncoder(base: base, entries: try decoder.all()).bytes))
                entry = try cursor.next()
            }
        }
        for (base, bytes) in rewritten { try txn.put(blocks, key: Key.u64(base), value: bytes) }
    }

    /// Moves a version-5 index's subject index (`bySubject`, each subject's sequences as packed 8-byte
    /// duplicates) into delta-coded blocks of up to 64 (`subjectBlocks`) and drops `bySubject`. Versions 1 to
    /// 4 reach it after their own steps (version 1 with an empty `bySubject`). A subject entry whose last
    /// sequence is not the newest it holds (versions up to 5 left it so when a subject's newest message was
    /// removed) gets the newest.
    private static func upgradeSubjectIndex(_ txn: Transaction) throws {
        let old = try txn.openDatabase("bySubject", create: true, sortedFixedDuplicates: true)
        let blocks = SubjectSequenceIndex(txn: txn, database: try txn.openDatabase("subjectBlocks", create: true))
        var pending: (id: UInt64, sequences: [UInt64])?
        var newest: [UInt64: UInt64] = [:]
        func flush() throws {
            guard let (id, sequences) = pending, let anchor = sequences.first else { return }
            // Keys ascend (subject, then sequence) as the old entries do: appended.
            try blocks.store(id, anchor: anchor, sequences, append: true)
        }
        try txn.withCursor(old) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                guard current.key.count == 8, current.value.count == 8 else {
                    throw StoreError.indexMismatch("a bySubject entry is malformed")
                }
                let (id, sequence) = (current.key.loadBE(UInt64.self, at: 0), current.value.loadBE(UInt64.self, at: 0))
                if pending?.id != id || pending!.sequences.count == SubjectBlock.capacity {
                    try flush()
                    pending = (id, [])
                }
                pending!.sequences.append(sequence)
                newest[id] = sequence
                entry = try cursor.next()
            }
        }
        try flush()
        try txn.drop(old)
        let subjects = try txn.openDatabase("subjects", create: true)
        var stale: [([UInt8], SubjectEntry)] = []
        try txn.withCursor(subjects) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                if var subject = SubjectEntry(current.value), let last = newest[subject.id], last != subject.lastSequence {
                    subject.lastSequence = last
                    stale.append((Array(current.key), subject))
                }
                entry = try cursor.next()
            }
        }
        for (name, subject) in stale { try txn.put(subjects, key: name, value: subject.encoded()) }
    }

    /// Opens (or creates) the index in `path`. Throws `unsupportedFormat` for another format version.
    init(path: String, readOnly: Bool = false) throws {
        do {
            environment = try Environment(path: path, mapSize: IndexStore.initialMapBytes, maxDatabases: 10, maxReaders: 126, durability: .deferred, readOnly: readOnly)
            let names = ["meta", "seqBlocks", "time", "subjects", "subjectNames", "subjectBlocks", "messageIDs", "consumers", "idSequences"]
            let handles: [Database]
            if readOnly {
                // An index of another version may lack this version's databases: its version is the error.
                let meta = try environment.openExistingDatabases(["meta"])[0]
                if let version = try environment.read({ txn in try txn.get(meta, key: Array("format".utf8)).map { $0.loadLE(UInt32.self, at: 0) } }),
                   version != IndexStore.formatVersion {
                    throw StoreError.unsupportedFormat("index format version \(version)")
                }
                handles = try environment.openExistingDatabases(names)
            } else {
                handles = try environment.writeGrowingMap { (txn) throws in
                    let meta = try txn.openDatabase("meta", create: true)
                    let version = try txn.get(meta, key: Array("format".utf8)).map { $0.loadLE(UInt32.self, at: 0) }
                    if version == 1 { try IndexStore.upgradeFromVersion1(txn, meta: meta) }
                    if version == 2 { try IndexStore.upgradeFromVersion2(txn, meta: meta) }
                    if let version, (1...4).contains(version) { try IndexStore.upgradeSequenceIndex(txn) }
                    if version == 5 { try IndexStore.reencodeSequenceBlocks(txn) }
                    if let version, (1...5).contains(version) {
                        try IndexStore.upgradeSubjectIndex(txn)
                        var bytes: [UInt8] = []
                        bytes.appendLE(IndexStore.formatVersion)
                        try txn.put(meta, key: Array("format".utf8), value: bytes)
                    }
                    var opened: [Database] = [meta]
                    for name in names.dropFirst() {
                        opened.append(try txn.openDatabase(name, create: true))
                    }
                    return opened
                }
            }
            (meta, sequences, times, subjects, subjectNames, subjectSequences, messageIDs, consumers) =
                (handles[0], handles[1], handles[2], handles[3], handles[4], handles[5], handles[6], handles[7])
            idSequences = handles[8]
            let version: UInt32? = try environment.read { txn in
                try txn.get(meta, key: Array("format".utf8)).map { $0.loadLE(UInt32.self, at: 0) }
            }
            if let version, version != IndexStore.formatVersion {
                throw StoreError.unsupportedFormat("index format version \(version)")
            }
            if version == nil && !readOnly {
                try environment.writeGrowingMap { (txn) throws in
                    var bytes: [UInt8] = []
                    bytes.appendLE(IndexStore.formatVersion)
                    try txn.put(meta, key: Array("format".utf8), value: bytes)
                }
            }
        } catch let error as StoreError {
            throw error
        } catch let error as LMDBError {
            throw StoreError.wrap(error)
        } catch {
            throw StoreError.indexMismatch("\(error)")
        }
    }

    func read<T>(_ body: (IndexReader) throws -> T) throws -> T {
        do {
            return try environment.read { txn in try body(IndexReader(index: self, txn: txn)) }
        } catch let error as StoreError {
            throw error
        } catch let error as LMDBError {
            throw StoreError.wrap(error)
        } catch {
            throw StoreError.indexMismatch("\(error)")
        }
    }

    /// Runs `body` in one write transaction (committed when it returns, aborted when it throws). When the
    /// map is full, the map is doubled and `body` runs again from the start, so it must be repeatable
    /// (every caller's is: it recomputes from the index state it reads).
    /// Write transactions through ``write(_:)`` since the index was opened (the writer compares it at close:
    /// an index nothing was written to needs no checkpoint). Write transactions are serialized by LMDB.
    private(set) var writes = 0

    func write<T>(_ body: (inout IndexWriter) throws -> T) throws -> T {
        writeLock.lock()
        defer { writeLock.unlock() }
        do {
            let result = try environment.writeGrowingMap { txn in
                // A map that filled up aborts the transaction and runs it again: the subject entries it
                // changed go back first.
                subjectTable.rollBack()
                var writer = try IndexWriter(index: self, txn: txn)
                let result = try body(&writer)
                try writer.flushSubjects()
                return result
            }
            subjectTable.commit()
            writes += 1
            return result
        } catch {
            subjectTable.rollBack()
            throw StoreError.wrap(error)
        }
    }

    func checkpoint() throws {
        do { try environment.sync() } catch { throw StoreError.wrap(error) }
    }

    /// Every named database with its name and flags, for a compaction's reopen.
    private var databases: [(name: String, handle: Database, sortedFixedDuplicates: Bool)] {
        [("meta", meta, false), ("seqBlocks", sequences, false), ("time", times, false), ("subjects", subjects, false),
         ("subjectNames", subjectNames, false), ("subjectBlocks", subjectSequences, false), ("messageIDs", messageIDs, false),
         ("consumers", consumers, false), ("idSequences", idSequences, false)]
    }

    /// The index file keeps the pages of its largest size (LMDB reuses freed pages but never shrinks the
    /// file): a queue that held a large backlog and was drained keeps its peak. When at least half of the
    /// file (and 1 MiB) is free pages and the live trees are at most `maxLiveBytes` (the copy holds every
    /// reader of this stream for its duration), the file is rewritten compact. Returns whether it was.
    /// The file is synced first (a checkpoint): the copy is of committed, synced data.
    func compactIfWasteful(maxLiveBytes: Int = 16 << 20) throws -> Bool {
        do {
            let pages = try environment.pages(of: databases.map(\.handle))
            let pageSize = environment.pageSize
            let free = pages.file - pages.live
            guard free * pageSize >= 1 << 20, free * 2 >= pages.file, pages.live * pageSize <= maxLiveBytes else { return false }
            try environment.sync()
            try environment.compact(databases: databases)
            return true
        } catch {
            throw StoreError.wrap(error)
        }
    }

    static let stateKey = Array("state".utf8)
    static let markerKey = Array("marker".utf8)
    static let compactingKey = Array("compacting".utf8)
}

/// The persistent counters: stream state plus the next subject id (`meta/state`).
struct PersistentState: Equatable {
    var stream = StreamState()
    var nextSubjectID: UInt64 = 1

    func encoded() -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(64)
        b.appendLE(stream.messages); b.appendLE(stream.bytes)
        b.appendLE(stream.firstSequence); b.appendLE(stream.lastSequence)
        b.appendLE(stream.firstTimestamp); b.appendLE(stream.lastTimestamp)
        b.appendLE(stream.subjects); b.appendLE(nextSubjectID)
        return b
    }

    init() {}

    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == 64 else { return nil }
        stream.messages = raw.loadLE(UInt64.self, at: 0)
        stream.bytes = raw.loadLE(UInt64.self, at: 8)
        stream.firstSequence = raw.loadLE(UInt64.self, at: 16)
        stream.lastSequence = raw.loadLE(UInt64.self, at: 24)
        stream.firstTimestamp = raw.loadLE(Int64.self, at: 32)
        stream.lastTimestamp = raw.loadLE(Int64.self, at: 40)
        stream.subjects = raw.loadLE(UInt64.self, at: 48)
        nextSubjectID = raw.loadLE(UInt64.self, at: 56)
    }
}

/// A subject's entry (`subjects` database).
struct SubjectEntry: Equatable {
    var id: UInt64
    var count: UInt64
    var lastSequence: UInt64

    func encoded() -> InlineBytes {
        var b = InlineBytes()
        b.appendLittleEndian(id); b.appendLittleEndian(count); b.appendLittleEndian(lastSequence)
        return b
    }

    init(id: UInt64, count: UInt64, lastSequence: UInt64) {
        self.id = id
        self.count = count
        self.lastSequence = lastSequence
    }

    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == 24 else { return nil }
        id = raw.loadLE(UInt64.self, at: 0)
        count = raw.loadLE(UInt64.self, at: 8)
        lastSequence = raw.loadLE(UInt64.self, at: 16)
    }
}
