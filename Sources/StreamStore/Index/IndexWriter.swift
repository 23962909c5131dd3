import LMDB

/// Changes to the index within one write transaction, keeping the stream's counters in step.
///
/// Every removal is also collected in ``removed`` so that the caller can write the matching removal
/// record to the log (Specs/SegmentFormat.md, "Removal").
struct IndexWriter {
    let index: IndexStore
    let txn: Transaction
    var state: PersistentState
    /// Sequences removed through this writer, for the log's removal record.
    var removed = RangeCollector()
    /// Sequences between two entries of the sparse time index.
    static let timeEntrySpacing: UInt64 = 64
    /// The newest `time` entry (timestamp, sequence), once looked up in this transaction ((.min, 0): none).
    private var lastTimeEntry: (Int64, UInt64)?
    /// Subject entries, kept by the index across transactions (``SubjectTable``); the changed ones are
    /// written back once by ``flushSubjects()`` (a batch touching a subject many times costs one put).
    private var subjects: SubjectTable { index.subjectTable }
    /// The newest sequence block's encoding, for appends (reset by any other change of the sequence index).
    private var appender = SequenceAppender()
    private var sequences: SequenceIndex { SequenceIndex(txn: txn, database: index.sequences) }
    /// Each touched subject's newest block, for appends (reset by any other change of the subject index).
    private var subjectAppender = SubjectAppender()
    private var subjectSequences: SubjectSequenceIndex { SubjectSequenceIndex(txn: txn, database: index.subjectSequences) }
    /// The (subject id, sequence) of the removals of the call under way, applied to the subject index and the
    /// subject entries together when it ends (``forgetSubjects()``).
    private var subjectRemovals: [(subjectID: UInt64, sequence: UInt64)] = []

    init(index: IndexStore, txn: Transaction) throws {
        self.index = index
        self.txn = txn
        self.state = try IndexReader(index: index, txn: txn).persistentState() ?? PersistentState()
    }

    var reader: IndexReader { IndexReader(index: index, txn: txn) }

    /// A subject's entry as of this transaction (cache first).
    mutating func subjectEntry(_ name: String) throws -> SubjectEntry? {
        try subjects.entry(name, in: txn, database: index.subjects)
    }

    private mutating func setSubjectEntry(_ name: String, _ entry: SubjectEntry?) {
        subjects.set(name, entry)
    }

    /// Writes the changed subject entries; called by ``IndexStore/write(_:)`` before every commit.
    mutating func flushSubjects() throws {
        let (txn, database) = (self.txn, index.subjects)
        try subjects.forEachChange { name, entry in
            if let entry {
                try txn.put(database, key: name, value: entry.encoded())
            } else {
                try txn.delete(database, key: name)
            }
        }
    }

    func save(marker: IndexMarker?) throws {
        try txn.put(index.meta, key: IndexStore.stateKey, value: state.encoded())
        if let marker { try txn.put(index.meta, key: IndexStore.markerKey, value: marker.encoded()) }
    }

    func setCompacting(_ segment: UInt64?) throws {
        if let segment {
            var bytes: [UInt8] = []
            bytes.appendLE(segment)
            try txn.put(index.meta, key: IndexStore.compactingKey, value: bytes)
        } else {
            try txn.delete(index.meta, key: IndexStore.compactingKey)
        }
    }

    /// Empties every database but `meta/format` (before a rebuild).
    mutating func clear() throws {
        for db in [index.sequences, index.times, index.subjects, index.subjectNames, index.subjectSequences, index.messageIDs, index.idSequences] {
            try txn.clear(db)
        }
        try txn.delete(index.meta, key: IndexStore.stateKey)
        try txn.delete(index.meta, key: IndexStore.markerKey)
        try txn.delete(index.meta, key: IndexStore.compactingKey)
        state = PersistentState()
        lastTimeEntry = nil
        appender.reset()
        subjectAppender.reset()
        subjects.clear()
        index.subjectIDs.removeAll()
    }

    /// Indexes one message. Its sequence must be above every sequence indexed before.
    mutating func insert(sequence: UInt64, timestamp: Int64, subject: UnsafeRawBufferPointer,
                         messageID: UnsafeRawBufferPointer, accountedSize: UInt64,
                         segment: UInt64, frameOffset: UInt64, recordIndex: UInt32) throws {
        let name = String(decoding: subject, as: UTF8.self)
        var entry: SubjectEntry
        if let existing = try subjectEntry(name) {
            entry = existing
            entry.count += 1
        } else {
            entry = SubjectEntry(id: state.nextSubjectID, count: 1, lastSequence: sequence)
            state.nextSubjectID += 1
            state.stream.subjects += 1
            try Key.u64(entry.id).withBytes { try txn.put(index.subjectNames, key: $0, value: subject) }
        }
        entry.lastSequence = sequence
        setSubjectEntry(name, entry)

        let location = MessageLocation(segment: segment, frameOffset: frameOffset, recordIndex: recordIndex,
                                       accountedSize: UInt32(clamping: accountedSize), timestamp: timestamp, subjectID: entry.id)
        try appender.append(sequence, location, to: sequences)
        try subjectAppender.append(sequence, subject: entry.id, to: subjectSequences)
        if !messageID.isEmpty {
            var value: [UInt8] = []
            value.appendLE(sequence)
            value.appendLE(timestamp)
            try value.withUnsafeBytes { try txn.put(index.messageIDs, key: messageID, value: $0) }
            var byTime: [UInt8] = []
            byTime.reserveCapacity(8 + messageID.count)
            byTime.appendLE(timestamp)
            byTime.append(contentsOf: messageID)
            try txn.put(index.idSequences, key: Key.u64(sequence), value: byTime, append: true)
        }
        // The time index is sparse: an entry when 64 sequences have passed since the last one (a lookup
        // walks at most that many sequence-index entries from the entry before the time it seeks), so one-message
        // frames do not cost an entry each.
        if lastTimeEntry == nil {
            lastTimeEntry = try txn.withCursor(index.times) { cursor in
                try cursor.last().map { (Int64(bitPattern: $0.key.loadBE(UInt64.self, at: 0)), $0.key.loadBE(UInt64.self, at: 8)) }
            } ?? (Int64.min, 0)
        }
        let (lastTime, lastSequence) = lastTimeEntry!
        if lastTime == .min || sequence &- lastSequence >= IndexWriter.timeEntrySpacing {
            var key: [UInt8] = []
            key.appendBE(UInt64(bitPattern: timestamp))
            key.appendBE(sequence)
            // Appended (full pages) while keys only grow, as they do while the clock moves forward.
            let append = lastTime != .min && (timestamp > lastTime || (timestamp == lastTime && sequence > lastSequence))
            try txn.put(index.times, key: key, value: [], append: append)
            if append || lastTime == .min { lastTimeEntry = (timestamp, sequence) }
        }

        if state.stream.messages == 0 {
            state.stream.firstSequence = sequence
            state.stream.firstTimestamp = timestamp
        }
        state.stream.messages += 1
        state.stream.bytes += accountedSize
        state.stream.lastSequence = max(state.stream.lastSequence, sequence)
        state.stream.lastTimestamp = max(state.stream.lastTimestamp, timestamp)
    }

    /// Removes one held sequence; returns its location, or nil when it was not held.
    @discardableResult
    mutating func remove(_ sequence: UInt64) throws -> MessageLocation? {
        appender.reset()
        subjectAppender.reset()
        guard let location = try sequences.remove(sequence) else { return nil }
        try forget(sequence: sequence, location: location)
        try forgetSubjects()
        if sequence == state.stream.firstSequence { try advanceHead() }
        return location
    }

    /// Removes the held ones of `sequences` (any order, repeats allowed), each sequence block they touch
    /// rewritten once; returns those that were held.
    mutating func remove(_ sequences: [UInt64]) throws -> Set<UInt64> {
        appender.reset()
        subjectAppender.reset()
        var held = Set<UInt64>()
        var touchesHead = false
        let blocks = self.sequences
        try blocks.remove(sorted: sequences.sorted()) { sequence, location in
            try forget(sequence: sequence, location: location)
            if sequence == state.stream.firstSequence { touchesHead = true }
            held.insert(sequence)
        }
        try forgetSubjects()
        if touchesHead { try advanceHead() }
        return held
    }

    /// Removes every held sequence in `range`; returns how many were held.
    @discardableResult
    mutating func remove(range: ClosedRange<UInt64>) throws -> UInt64 {
        var count: UInt64 = 0
        var touchesHead = false
        appender.reset()
        subjectAppender.reset()
        let blocks = self.sequences
        try blocks.remove(range: range) { sequence, location in
            try forget(sequence: sequence, location: location)
            if sequence == state.stream.firstSequence { touchesHead = true }
            count += 1
        }
        try forgetSubjects()
        if touchesHead { try advanceHead() }
        return count
    }

    /// Moves held `sequence` to `location` (a compaction's rewrite of its segment); false when not held.
    @discardableResult
    mutating func relocate(_ sequence: UInt64, to location: MessageLocation) throws -> Bool {
        appender.reset()
        return try sequences.update(sequence, to: location)
    }

    /// Drops a removed message's counter contributions and queues its subject's (``forgetSubjects()``).
    private mutating func forget(sequence: UInt64, location: MessageLocation) throws {
        removed.add(sequence)
        subjectRemovals.append((location.subjectID, sequence))
        state.stream.messages -= 1
        state.stream.bytes -= min(state.stream.bytes, UInt64(location.accountedSize))
    }

    /// Applies the queued removals to the subject index and the subject entries: each subject's blocks and
    /// entry are rewritten once, however many of its sequences went.
    private mutating func forgetSubjects() throws {
        guard !subjectRemovals.isEmpty else { return }
        subjectRemovals.sort { ($0.subjectID, $0.sequence) < ($1.subjectID, $1.sequence) }
        let removals = subjectRemovals
        subjectRemovals.removeAll(keepingCapacity: true)
        var i = 0
        while i < removals.count {
            let id = removals[i].subjectID
            var end = i
            while end < removals.count, removals[end].subjectID == id { end += 1 }
            defer { i = end }
            let sequences = removals[i..<end].map(\.sequence)
            try subjectSequences.remove(id, sorted: sequences)
            guard let nameBytes = try txn.get(index.subjectNames, key: Key.u64(id)) else { continue }
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard var entry = try subjectEntry(name) else { continue }
            entry.count -= min(entry.count, UInt64(end - i))
            if entry.count == 0 {
                setSubjectEntry(name, nil)
                try txn.delete(index.subjectNames, key: Key.u64(id))
                state.stream.subjects -= 1
            } else {
                // The subject's newest went: its last is the newest it still holds.
                if sequences.last! >= entry.lastSequence, sequences.contains(entry.lastSequence) {
                    entry.lastSequence = try subjectSequences.last(id, atOrBefore: .max) ?? 0
                }
                setSubjectEntry(name, entry)
            }
        }
    }

    /// Moves the first sequence to the next held one (or past the last) and prunes the time index.
    private mutating func advanceHead() throws {
        if let (first, location) = try reader.firstHeld(atOrAfter: state.stream.firstSequence) {
            state.stream.firstSequence = first
            state.stream.firstTimestamp = location.timestamp
        } else {
            state.stream.firstSequence = state.stream.lastSequence + 1
            state.stream.firstTimestamp = 0
        }
        // Keep the time entry of the frame that holds the new first message (the last one at or below it).
        var stale: [[UInt8]] = []
        try txn.withCursor(index.times) { cursor in
            var previous = try cursor.first().map { Array($0.key) }
            while let key = previous, let next = try cursor.next() {
                if next.key.loadBE(UInt64.self, at: 8) > state.stream.firstSequence { break }
                stale.append(key)
                previous = Array(next.key)
            }
        }
        for key in stale { try txn.delete(index.times, key: key) }
    }

    /// Forgets the message ids recorded before `time` (outside the duplicate window), oldest first, at most
    /// `limit` of them; returns how many entries it walked (`limit` means there may be more). Timestamps
    /// never decrease with the sequence, so the walk stops at the first id inside the window. An id
    /// published again later keeps its newer entry.
    @discardableResult
    mutating func pruneMessageIDs(before time: Int64, limit: Int = 50_000) throws -> Int {
        var stale: [(sequence: [UInt8], id: [UInt8])] = []
        try txn.withCursor(index.idSequences) { cursor in
            var entry = try cursor.first()
            while let current = entry, stale.count < limit, current.value.loadLE(Int64.self, at: 0) < time {
                stale.append((Array(current.key), Array(current.value[8...])))
                entry = try cursor.next()
            }
        }
        for (sequence, id) in stale {
            try txn.delete(index.idSequences, key: sequence)
            if let current = try txn.get(index.messageIDs, key: id), current.loadLE(UInt64.self, at: 0) == sequence.withUnsafeBytes({ $0.loadBE(UInt64.self, at: 0) }) {
                try txn.delete(index.messageIDs, key: id)
            }
        }
        return stale.count
    }
}

/// Collects removed sequences into sorted, coalesced inclusive ranges.
struct RangeCollector: Equatable {
    private(set) var ranges: [ClosedRange<UInt64>] = []

    var isEmpty: Bool { ranges.isEmpty }

    mutating func add(_ sequence: UInt64) {
        if let last = ranges.last {
            if last.contains(sequence) { return }
            if sequence == last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound...sequence
                return
            }
            if sequence < last.lowerBound {
                ranges.append(sequence...sequence)
                ranges.sort { $0.lowerBound < $1.lowerBound }
                coalesce()
                return
            }
        }
        ranges.append(sequence...sequence)
    }

    private mutating func coalesce() {
        var merged: [ClosedRange<UInt64>] = []
        for range in ranges {
            if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        ranges = merged
    }
}
