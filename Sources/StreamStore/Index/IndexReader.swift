#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import LMDB
import Subjects

/// Queries over one consistent snapshot of the index (a read or write transaction).
struct IndexReader {
    let index: IndexStore
    let txn: Transaction

    func persistentState() throws -> PersistentState? {
        try txn.get(index.meta, key: IndexStore.stateKey).flatMap(PersistentState.init)
    }

    func marker() throws -> IndexMarker? {
        try txn.get(index.meta, key: IndexStore.markerKey).flatMap(IndexMarker.init)
    }

    func compacting() throws -> UInt64? {
        try txn.get(index.meta, key: IndexStore.compactingKey).map { $0.loadLE(UInt64.self, at: 0) }
    }

    /// Every consumer record, in name order.
    func consumers() throws -> [ConsumerRecord] {
        var records: [ConsumerRecord] = []
        try txn.withCursor(index.consumers) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                records.append(try ConsumerRecord(decoding: Array(current.value)))
                entry = try cursor.next()
            }
        }
        return records
    }

    var sequences: SequenceIndex { SequenceIndex(txn: txn, database: index.sequences) }

    func location(_ sequence: UInt64) throws -> MessageLocation? {
        try sequences.location(sequence)
    }

    /// The first held sequence at or after `sequence`, with its location.
    func firstHeld(atOrAfter sequence: UInt64) throws -> (UInt64, MessageLocation)? {
        try sequences.firstHeld(atOrAfter: sequence)
    }

    /// The last held sequence at or before `sequence` (the last of all by default), with its location.
    func lastHeld(atOrBefore sequence: UInt64 = .max) throws -> (UInt64, MessageLocation)? {
        try sequences.lastHeld(atOrBefore: sequence)
    }

    func subjectEntry(_ subject: String) throws -> SubjectEntry? {
        if subject.utf8.count > IndexStore.maxKeyBytes { return nil }
        return try txn.get(index.subjects, key: subject).flatMap(SubjectEntry.init)
    }

    func subjectName(_ id: UInt64) throws -> String? {
        try txn.get(index.subjectNames, key: Key.u64(id)).map { String(decoding: $0, as: UTF8.self) }
    }

    func messageID(_ id: String) throws -> (sequence: UInt64, timestamp: Int64)? {
        let key = Array(id.utf8)
        if key.isEmpty || key.count > IndexStore.maxKeyBytes { return nil }
        return try txn.get(index.messageIDs, key: key).map { ($0.loadLE(UInt64.self, at: 0), $0.loadLE(Int64.self, at: 8)) }
    }

    var subjectSequences: SubjectSequenceIndex { SubjectSequenceIndex(txn: txn, database: index.subjectSequences) }

    /// How many sequences of a subject `range` holds.
    func count(ofSubject id: UInt64, in range: ClosedRange<UInt64>) throws -> UInt64 {
        try subjectSequences.count(id, in: range)
    }

    /// The newest held sequence of a subject at or below `limit` (the durable watermark), or nil.
    func lastSequence(of entry: SubjectEntry, atOrBelow limit: UInt64) throws -> UInt64? {
        if entry.lastSequence <= limit { return entry.lastSequence }
        return try subjectSequences.last(entry.id, atOrBefore: limit)
    }

    /// The oldest held sequence of a subject, at or after `sequence`.
    func sequence(ofSubject id: UInt64, atOrAfter sequence: UInt64) throws -> UInt64? {
        try subjectSequences.first(id, atOrAfter: sequence)
    }

    /// Every held subject matching `filter` (all when nil), in byte order, with its entry. Scans only the
    /// key range of the filter's literal prefix.
    func subjects(matching filter: String?) throws -> [(String, SubjectEntry)] {
        var result: [(String, SubjectEntry)] = []
        try forEachSubject(matching: filter) { name, entry in result.append((name, entry)); return true }
        return result
    }

    /// Calls `body` for each held subject matching `filter` until it returns false.
    func forEachSubject(matching filter: String?, _ body: (String, SubjectEntry) throws -> Bool) throws {
        if let filter, !Subject.hasWildcard(filter) {
            if let entry = try subjectEntry(filter) { _ = try body(filter, entry) }
            return
        }
        let prefix = filter.map(IndexReader.literalPrefix) ?? []
        var filterBytes = Array((filter ?? ">").utf8)
        try txn.withCursor(index.subjects) { cursor in
            var entry = prefix.isEmpty ? try cursor.first() : try cursor.seek(atOrAfter: prefix)
            while let current = entry {
                if !prefix.isEmpty && !current.key.starts(with: prefix) { break }
                let matches = filterBytes.withUnsafeMutableBufferPointer { fb in
                    Subject.matches(subject: current.key.assumingMemoryBound(to: UInt8.self), filter: UnsafeBufferPointer(fb))
                }
                if matches, let value = SubjectEntry(current.value) {
                    if try !body(String(decoding: current.key, as: UTF8.self), value) { return }
                }
                entry = try cursor.next()
            }
        }
    }

    /// The bytes of `filter` before its first wildcard token (`a.b.>` gives `a.b.`).
    static func literalPrefix(_ filter: String) -> [UInt8] {
        var prefix: [UInt8] = []
        for token in filter.subjectTokens() {
            if token == "*" || token == ">" { break }
            prefix.append(contentsOf: token.utf8)
            prefix.append(UInt8(ascii: "."))
        }
        return prefix
    }

    /// The first held sequence at or after `sequence` whose subject matches `filter`, with its location.
    func nextHeld(atOrAfter sequence: UInt64, filter: String?) throws -> (UInt64, MessageLocation)? {
        try held(atOrAfter: sequence, filter: filter, limit: 1).first
    }

    /// Up to `limit` held messages at or after `sequence` whose subjects match `filter` (all when nil), in
    /// sequence order, with their locations: one pass for the whole batch. A literal filter walks its
    /// subject's blocks of sequences; a wildcard matching few subjects (at most 64) merges their sequences,
    /// reading from each only what can still make the batch; otherwise the sequence index is walked once
    /// with a per-subject-id match cache.
    func held(atOrAfter sequence: UInt64, filter: String?, limit: Int) throws -> [(UInt64, MessageLocation)] {
        guard limit > 0 else { return [] }
        var result: [(UInt64, MessageLocation)] = []
        result.reserveCapacity(min(limit, 4096))
        guard let filter, filter != ">" else {
            try walkSequences(from: sequence) { s, location in result.append((s, location)); return result.count < limit }
            return result
        }
        guard let ids = try matchingSubjectIDs(filter) else {
            var cache: [UInt64: Bool] = [:]
            try walkSequences(from: sequence) { s, location in
                let matches: Bool
                if let known = cache[location.subjectID] {
                    matches = known
                } else {
                    matches = try subjectName(location.subjectID).map { Subject.matches($0, filter: filter) } ?? false
                    cache[location.subjectID] = matches
                }
                if matches { result.append((s, location)) }
                return result.count < limit
            }
            return result
        }
        // Each subject's sequences below the batch's current cutoff (the limit-th smallest so far).
        var sequences: [UInt64] = []
        let subjectSequences = self.subjectSequences
        for id in ids {
            let cutoff = sequences.count >= limit ? sequences[limit - 1] : UInt64.max
            let before = sequences.count
            var taken = 0
            try subjectSequences.walk(id, from: sequence) { s in
                guard s < cutoff else { return false }
                sequences.append(s)
                taken += 1
                return taken < limit
            }
            if before > 0 && sequences.count > before {
                sequences.sort()
                if sequences.count > limit { sequences.removeLast(sequences.count - limit) }
            }
        }
        try self.sequences.locations(of: sequences) { s, location in result.append((s, location)) }
        return result
    }

    /// The ids of the held subjects matching `filter`, or nil when more than ``SubjectIDCache/limit``
    /// match. In a read transaction a wildcard's answer is remembered until the subject set changes
    /// (``SubjectIDCache``); a write transaction, whose subjects may be ahead of its stored state, scans.
    func matchingSubjectIDs(_ filter: String) throws -> [UInt64]? {
        var version: SubjectIDCache.Version?
        if txn.isReadOnly, Subject.hasWildcard(filter), let state = try persistentState() {
            let current = SubjectIDCache.Version(subjects: state.stream.subjects, nextSubjectID: state.nextSubjectID)
            if let known = index.subjectIDs.lookup(filter, at: current) { return known }
            version = current
        }
        var ids: [UInt64]? = []
        try forEachSubject(matching: filter) { _, entry in
            ids!.append(entry.id)
            if ids!.count > SubjectIDCache.limit { ids = nil; return false }
            return true
        }
        if let version { index.subjectIDs.store(filter, at: version, ids: ids) }
        return ids
    }

    /// Walks the sequence index from `sequence` on while `body` returns true.
    private func walkSequences(from sequence: UInt64, _ body: (UInt64, MessageLocation) throws -> Bool) throws {
        try sequences.walk(from: sequence, body)
    }

    /// The first held sequence whose timestamp is at or after `time` (ns since the epoch).
    func firstSequence(atOrAfterTime time: Int64) throws -> UInt64? {
        let start: UInt64 = try txn.withCursor(index.times) { cursor in
            var key: [UInt8] = []
            key.appendBE(UInt64(bitPattern: time))
            guard try cursor.seek(atOrAfter: key) != nil else {
                return try cursor.last()?.key.loadBE(UInt64.self, at: 8) ?? 0
            }
            // The frame before the first one starting at or after `time` may hold later messages.
            if let previous = try cursor.previous() { return previous.key.loadBE(UInt64.self, at: 8) }
            return 0
        }
        var found: UInt64?
        try sequences.walk(from: start) { sequence, location in
            if location.timestamp >= time { found = sequence; return false }
            return true
        }
        return found
    }
}
