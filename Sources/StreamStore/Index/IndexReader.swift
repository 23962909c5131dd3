import Foundation
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

    func location(_ sequence: UInt64) throws -> MessageLocation? {
        try txn.get(index.sequences, key: Key.u64(sequence)).flatMap(MessageLocation.init)
    }

    /// The first held sequence at or after `sequence`, with its location.
    func firstHeld(atOrAfter sequence: UInt64) throws -> (UInt64, MessageLocation)? {
        try txn.withCursor(index.sequences) { cursor in
            guard let entry = try cursor.seek(atOrAfter: Key.u64(sequence)),
                  let location = MessageLocation(entry.value) else { return nil }
            return (entry.key.loadBE(UInt64.self, at: 0), location)
        }
    }

    func lastHeld() throws -> (UInt64, MessageLocation)? {
        try txn.withCursor(index.sequences) { cursor in
            guard let entry = try cursor.last(), let location = MessageLocation(entry.value) else { return nil }
            return (entry.key.loadBE(UInt64.self, at: 0), location)
        }
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

    /// How many sequences of a subject are held at or after `sequence`.
    func count(ofSubject id: UInt64, in range: ClosedRange<UInt64>) throws -> UInt64 {
        try txn.withCursor(index.bySubject) { cursor in
            guard let first = try cursor.seek(key: Key.u64(id), valueAtOrAfter: Key.u64(range.lowerBound)),
                  first.value.loadBE(UInt64.self, at: 0) <= range.upperBound else { return 0 }
            // Over the whole subject, LMDB knows the count; otherwise walk the range (8 bytes a value, packed).
            if range.lowerBound <= 1 && range.upperBound == .max { return UInt64(try cursor.duplicateCount()) }
            var total: UInt64 = 1
            while let next = try cursor.nextDuplicate(), next.value.loadBE(UInt64.self, at: 0) <= range.upperBound { total += 1 }
            return total
        }
    }

    /// The oldest held sequence of a subject, at or after `sequence`.
    func sequence(ofSubject id: UInt64, atOrAfter sequence: UInt64) throws -> UInt64? {
        try txn.withCursor(index.bySubject) { cursor in
            try cursor.seek(key: Key.u64(id), valueAtOrAfter: Key.u64(sequence))?.value.loadBE(UInt64.self, at: 0)
        }
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
        for token in filter.split(separator: ".", omittingEmptySubsequences: false) {
            if token == "*" || token == ">" { break }
            prefix.append(contentsOf: token.utf8)
            prefix.append(UInt8(ascii: "."))
        }
        return prefix
    }

    /// The first held sequence at or after `sequence` whose subject matches `filter`.
    ///
    /// A literal filter seeks the subject index; a wildcard filter matching few subjects takes the least of
    /// one seek per subject; otherwise the sequence index is walked with a per-subject-id match cache.
    func nextSequence(atOrAfter sequence: UInt64, filter: String?) throws -> UInt64? {
        guard let filter, filter != ">" else { return try firstHeld(atOrAfter: sequence)?.0 }
        if !Subject.hasWildcard(filter) {
            guard let entry = try subjectEntry(filter) else { return nil }
            return try self.sequence(ofSubject: entry.id, atOrAfter: sequence)
        }
        var ids: [UInt64] = []
        var tooMany = false
        try forEachSubject(matching: filter) { _, entry in
            ids.append(entry.id)
            if ids.count > 64 { tooMany = true; return false }
            return true
        }
        if !tooMany {
            var best: UInt64?
            for id in ids {
                if let s = try self.sequence(ofSubject: id, atOrAfter: sequence), s < (best ?? .max) { best = s }
            }
            return best
        }
        var cache: [UInt64: Bool] = [:]
        return try txn.withCursor(index.sequences) { cursor in
            var entry = try cursor.seek(atOrAfter: Key.u64(sequence))
            while let current = entry {
                guard let location = MessageLocation(current.value) else { return nil }
                let matches: Bool
                if let known = cache[location.subjectID] {
                    matches = known
                } else {
                    matches = try subjectName(location.subjectID).map { Subject.matches($0, filter: filter) } ?? false
                    cache[location.subjectID] = matches
                }
                if matches { return current.key.loadBE(UInt64.self, at: 0) }
                entry = try cursor.next()
            }
            return nil
        }
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
        return try txn.withCursor(index.sequences) { cursor in
            var entry = try cursor.seek(atOrAfter: Key.u64(start))
            while let current = entry {
                if let location = MessageLocation(current.value), location.timestamp >= time {
                    return current.key.loadBE(UInt64.self, at: 0)
                }
                entry = try cursor.next()
            }
            return nil
        }
    }
}
