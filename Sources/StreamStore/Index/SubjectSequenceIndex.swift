import LMDB
import Platform

/// The subject index (`subjectBlocks`) within one transaction: every held sequence of each subject, up to 64
/// to a key (``SubjectBlock``). Reads decode only the blocks they touch; a change rewrites the one block it
/// falls in, but for ``SubjectAppender``, which extends each subject's newest block.
struct SubjectSequenceIndex {
    let txn: Transaction
    let database: Database

    /// A block of `subjectID` at the cursor's entry, decoded; nil when the entry is of another subject.
    private func decoded(_ entry: Cursor.Entry?, of subjectID: UInt64) throws -> (anchor: UInt64, sequences: [UInt64])? {
        guard let entry else { return nil }
        let (id, anchor) = try key(of: entry)
        guard id == subjectID else { return nil }
        return (anchor, try SubjectBlock.decode(subjectID: id, anchor: anchor, entry.value))
    }

    /// Positions `cursor` on the block of `subjectID` that holds `sequence` if any is held: the last one
    /// anchored at or below it, else the subject's first block above it. Nil when the subject has neither.
    private func start(_ cursor: inout Cursor, _ subjectID: UInt64, _ sequence: UInt64) throws -> Cursor.Entry? {
        let key = SubjectBlock.key(subjectID, sequence)
        if let entry = try cursor.seek(atOrBefore: key), SubjectBlock.decodeKey(entry.key)?.subjectID == subjectID { return entry }
        guard let entry = try cursor.seek(atOrAfter: key), SubjectBlock.decodeKey(entry.key)?.subjectID == subjectID else { return nil }
        return entry
    }

    /// The block anchored at or below `sequence` (nil when the subject has none).
    private func block(containing sequence: UInt64, of subjectID: UInt64) throws -> (anchor: UInt64, sequences: [UInt64])? {
        try txn.withCursor(database) { cursor in
            try decoded(try cursor.seek(atOrBefore: SubjectBlock.key(subjectID, sequence)), of: subjectID)
        }
    }

    /// The subject id and anchor of an entry's key; throws when the key is not 16 bytes.
    private func key(of entry: Cursor.Entry) throws -> (subjectID: UInt64, anchor: UInt64) {
        guard let key = SubjectBlock.decodeKey(entry.key) else {
            throw StoreError.indexMismatch("a subject block's key is \(entry.key.count) bytes, not 16")
        }
        return key
    }

    /// Finds the subject's newest block and appends `sequence` to it in place when it has room and the
    /// sequence is above its last (one search of the tree for both). Returns the block's anchor, value (with
    /// the sequence when appended) and last sequence, and whether it appended; nil when the subject has no
    /// block.
    func appendToLastBlock(of subjectID: UInt64, _ sequence: UInt64) throws -> (anchor: UInt64, bytes: [UInt8], last: UInt64, appended: Bool)? {
        try txn.withCursor(database) { cursor -> (anchor: UInt64, bytes: [UInt8], last: UInt64, appended: Bool)? in
            guard let entry = try cursor.seek(atOrBefore: SubjectBlock.key(subjectID, .max)) else { return nil }
            let (id, anchor) = try key(of: entry)
            guard id == subjectID else { return nil }
            var last = anchor
            try SubjectBlock.forEach(subjectID: id, anchor: anchor, entry.value) { last = $0; return true }
            var bytes = Array(entry.value)
            guard Int(bytes[0]) < SubjectBlock.capacity, sequence > last else { return (anchor, bytes, last, false) }
            bytes.appendLEB128(sequence - last)
            bytes[0] += 1
            try cursor.replaceCurrent(key: SubjectBlock.key(subjectID, anchor), value: bytes)
            return (anchor, bytes, sequence, true)
        }
    }

    /// Calls `body` for each held sequence of the subject at or after `sequence`, ascending, while it returns
    /// true. Decodes in place, up to where `body` stops.
    func walk(_ subjectID: UInt64, from sequence: UInt64, _ body: (UInt64) throws -> Bool) throws {
        try txn.withCursor(database) { cursor in
            var entry = try start(&cursor, subjectID, sequence)
            while let current = entry {
                let (id, anchor) = try key(of: current)
                guard id == subjectID else { return }
                let finished = try SubjectBlock.forEach(subjectID: id, anchor: anchor, current.value) { held in
                    held < sequence ? true : try body(held)
                }
                if !finished { return }
                entry = try cursor.next()
            }
        }
    }

    /// The subject's first held sequence at or after `sequence`.
    func first(_ subjectID: UInt64, atOrAfter sequence: UInt64) throws -> UInt64? {
        var found: UInt64?
        try walk(subjectID, from: sequence) { found = $0; return false }
        return found
    }

    /// The subject's last held sequence at or before `sequence`.
    func last(_ subjectID: UInt64, atOrBefore sequence: UInt64) throws -> UInt64? {
        try txn.withCursor(database) { cursor in
            var entry = try cursor.seek(atOrBefore: SubjectBlock.key(subjectID, sequence))
            while let current = entry {
                let (id, anchor) = try key(of: current)
                guard id == subjectID else { return nil }
                var found: UInt64?
                try SubjectBlock.forEach(subjectID: id, anchor: anchor, current.value) { held in
                    if held <= sequence { found = held }
                    return held < sequence
                }
                if let found { return found }
                entry = try cursor.previous()
            }
            return nil
        }
    }

    /// How many sequences of the subject `range` holds. A block followed by one anchored within the range
    /// lies wholly inside it from its anchor on, so it is counted from its count byte; only the first and
    /// the last block the range touches are decoded, and those only up to its end.
    func count(_ subjectID: UInt64, in range: ClosedRange<UInt64>) throws -> UInt64 {
        try txn.withCursor(database) { cursor in
            var total: UInt64 = 0
            var entry = try start(&cursor, subjectID, range.lowerBound)
            while let current = entry {
                let (id, anchor) = try key(of: current)
                guard id == subjectID, anchor <= range.upperBound else { break }
                let count = SubjectBlock.count(current.value)
                // (LMDB's values stay valid until the transaction writes or ends, the cursor moving or not.)
                let value = current.value
                entry = try cursor.next()
                if anchor >= range.lowerBound, let count, let next = entry, let (nextID, nextAnchor) = SubjectBlock.decodeKey(next.key),
                   nextID == subjectID, nextAnchor <= range.upperBound {
                    total += UInt64(count)
                    continue
                }
                try SubjectBlock.forEach(subjectID: id, anchor: anchor, value) { held in
                    if held > range.upperBound { return false }
                    if held >= range.lowerBound { total += 1 }
                    return true
                }
            }
            return total
        }
    }

    /// Calls `body` with every subject id and its held sequences, block by block in key order (the verifier's
    /// and the tests' full read).
    func forEachBlock(_ body: (UInt64, [UInt64]) throws -> Void) throws {
        try txn.withCursor(database) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                let (id, anchor) = try key(of: current)
                try body(id, try SubjectBlock.decode(subjectID: id, anchor: anchor, current.value))
                entry = try cursor.next()
            }
        }
    }

    /// Stores a block (deleted when it holds none).
    func store(_ subjectID: UInt64, anchor: UInt64, _ sequences: some Collection<UInt64>, append: Bool = false) throws {
        if sequences.isEmpty {
            try txn.delete(database, key: SubjectBlock.key(subjectID, anchor))
        } else {
            try txn.put(database, key: SubjectBlock.key(subjectID, anchor), value: SubjectBlock.encode(anchor: anchor, sequences), append: append)
        }
    }

    /// Adds `sequence` to the subject (nothing when held). A full block splits in two halves, the second
    /// anchored at its first sequence.
    func insert(_ subjectID: UInt64, _ sequence: UInt64) throws {
        guard var (anchor, sequences) = try block(containing: sequence, of: subjectID) else {
            try store(subjectID, anchor: sequence, [sequence])
            return
        }
        let position = sequences.firstIndex { $0 >= sequence } ?? sequences.endIndex
        if position < sequences.endIndex && sequences[position] == sequence { return }
        sequences.insert(sequence, at: position)
        if sequences.count <= SubjectBlock.capacity {
            try store(subjectID, anchor: anchor, sequences)
        } else {
            let half = sequences.count / 2
            try store(subjectID, anchor: anchor, sequences[..<half])
            anchor = sequences[half]
            try store(subjectID, anchor: anchor, sequences[half...])
        }
    }

    /// Removes the held ones of `sorted` (ascending, repeats allowed) from the subject, rewriting each block
    /// they fall in once; returns how many were held.
    @discardableResult
    func remove(_ subjectID: UInt64, sorted: [UInt64]) throws -> Int {
        var removed = 0
        var i = 0
        while i < sorted.count {
            guard let (anchor, sequences) = try block(containing: sorted[i], of: subjectID), let last = sequences.last else {
                i += 1
                continue
            }
            var end = i
            while end < sorted.count, sorted[end] <= last { end += 1 }
            // Above the block's last and below the next block's anchor: not held.
            guard end > i else { i += 1; continue }
            var kept: [UInt64] = []
            kept.reserveCapacity(sequences.count)
            var j = i
            for held in sequences {
                while j < end, sorted[j] < held { j += 1 }
                if j < end, sorted[j] == held { continue }
                kept.append(held)
            }
            if kept.count != sequences.count {
                removed += sequences.count - kept.count
                try store(subjectID, anchor: anchor, kept)
            }
            i = end
        }
        return removed
    }
}

/// Appends sequences, each above every one its subject holds, to the subject index within one write
/// transaction. It keeps each touched subject's newest block, so an append costs one varint and one put; any
/// other change to the index in the transaction must ``reset()`` it first.
struct SubjectAppender {
    private struct Tail {
        var anchor: UInt64
        var bytes: [UInt8]
        var last: UInt64
    }

    /// Past this many subjects in one transaction, the kept blocks are forgotten (and looked up again). A
    /// recovery indexes a long tail in one transaction: its subjects should fit (a kept block is about 200
    /// bytes).
    private static let limit = 32_768
    private var tails: [UInt64: Tail] = [:]

    mutating func reset() { tails.removeAll(keepingCapacity: true) }

    mutating func append(_ sequence: UInt64, subject subjectID: UInt64, to index: SubjectSequenceIndex) throws {
        if tails[subjectID] == nil {
            if tails.count >= SubjectAppender.limit { tails.removeAll(keepingCapacity: true) }
            if let found = try index.appendToLastBlock(of: subjectID, sequence) {
                tails[subjectID] = Tail(anchor: found.anchor, bytes: found.bytes, last: found.last)
                if found.appended { return }
            } else {
                tails[subjectID] = Tail(anchor: sequence, bytes: [0], last: sequence)
            }
        }
        // The kept block is changed in place (through the dictionary's accessor: no copy of its bytes).
        let (count, last) = (tails[subjectID]!.bytes[0], tails[subjectID]!.last)
        guard count == 0 || sequence > last else {
            // Not the subject's newest (never so for the writer's appends): the general insert.
            tails[subjectID] = nil
            try index.insert(subjectID, sequence)
            return
        }
        if Int(count) == SubjectBlock.capacity {
            tails[subjectID] = Tail(anchor: sequence, bytes: [0], last: sequence)
        }
        let fresh = tails[subjectID]!.bytes[0] == 0
        tails[subjectID]!.bytes.appendLEB128(fresh ? sequence - tails[subjectID]!.anchor : sequence - last)
        tails[subjectID]!.bytes[0] += 1
        tails[subjectID]!.last = sequence
        let anchor = tails[subjectID]!.anchor
        try index.txn.put(index.database, key: SubjectBlock.key(subjectID, anchor), value: tails[subjectID]!.bytes)
    }
}
