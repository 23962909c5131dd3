import LMDB

/// The sequence index (`seqBlocks`) within one transaction: every held sequence's location, stored 32
/// sequences to a key (``SequenceBlock``). Reads decode only the blocks they touch; the mutations rewrite a
/// block whole, but for ``SequenceAppender``, which extends the newest block.
struct SequenceIndex {
    let txn: Transaction
    let database: Database

    private func block(_ base: UInt64) throws -> UnsafeRawBufferPointer? {
        try txn.get(database, key: Key.u64(base))
    }

    func location(_ sequence: UInt64) throws -> MessageLocation? {
        let base = SequenceBlock.base(of: sequence)
        guard let raw = try block(base), let present = SequenceBlock.present(raw),
              present & SequenceBlock.bit(of: sequence) != 0 else { return nil }
        var decoder = try SequenceBlockDecoder(base: base, raw: raw)
        while let (held, location) = try decoder.next() {
            if held == sequence { return location }
        }
        return nil
    }

    /// Calls `found` with the location of each held sequence of `sorted` (ascending), in order, decoding each
    /// block they fall in once.
    func locations(of sorted: [UInt64], _ found: (UInt64, MessageLocation) throws -> Void) throws {
        var i = 0
        while i < sorted.count {
            let base = SequenceBlock.base(of: sorted[i])
            guard let raw = try block(base) else {
                while i < sorted.count, SequenceBlock.base(of: sorted[i]) == base { i += 1 }
                continue
            }
            var decoder = try SequenceBlockDecoder(base: base, raw: raw)
            var entry = try decoder.next()
            while i < sorted.count, SequenceBlock.base(of: sorted[i]) == base {
                while let (held, _) = entry, held < sorted[i] { entry = try decoder.next() }
                if let (held, location) = entry, held == sorted[i] { try found(held, location) }
                i += 1
            }
        }
    }

    /// Calls `body` for every held sequence at or after `sequence`, in order, while it returns true.
    func walk(from sequence: UInt64, _ body: (UInt64, MessageLocation) throws -> Bool) throws {
        try txn.withCursor(database) { cursor in
            var entry = try cursor.seek(atOrAfter: Key.u64(SequenceBlock.base(of: sequence)))
            while let current = entry {
                var decoder = try SequenceBlockDecoder(base: current.key.loadBE(UInt64.self, at: 0), raw: current.value)
                while let (held, location) = try decoder.next() {
                    if held >= sequence, try !body(held, location) { return }
                }
                entry = try cursor.next()
            }
        }
    }

    /// Calls `body` for every held sequence at or before `sequence`, newest first, while it returns true.
    func walkBackward(from sequence: UInt64, _ body: (UInt64, MessageLocation) throws -> Bool) throws {
        try txn.withCursor(database) { cursor in
            var entry = try cursor.seek(atOrBefore: Key.u64(SequenceBlock.base(of: sequence)))
            while let current = entry {
                var decoder = try SequenceBlockDecoder(base: current.key.loadBE(UInt64.self, at: 0), raw: current.value)
                for (held, location) in try decoder.all().reversed() where held <= sequence {
                    if try !body(held, location) { return }
                }
                entry = try cursor.previous()
            }
        }
    }

    func firstHeld(atOrAfter sequence: UInt64) throws -> (UInt64, MessageLocation)? {
        var found: (UInt64, MessageLocation)?
        try walk(from: sequence) { held, location in found = (held, location); return false }
        return found
    }

    func lastHeld(atOrBefore sequence: UInt64 = .max) throws -> (UInt64, MessageLocation)? {
        var found: (UInt64, MessageLocation)?
        try walkBackward(from: sequence) { held, location in found = (held, location); return false }
        return found
    }

    /// How many sequences of `range` are held (from the blocks' masks, no entry decoded).
    func count(in range: ClosedRange<UInt64>) throws -> UInt64 {
        var total: UInt64 = 0
        try txn.withCursor(database) { cursor in
            var entry = try cursor.seek(atOrAfter: Key.u64(SequenceBlock.base(of: range.lowerBound)))
            while let current = entry {
                let base = current.key.loadBE(UInt64.self, at: 0)
                if base > range.upperBound { break }
                guard var present = SequenceBlock.present(current.value) else {
                    throw StoreError.indexMismatch("sequence block \(base) is cut short")
                }
                if range.lowerBound > base { present &= ~0 << UInt32(range.lowerBound - base) }
                if range.upperBound < base + SequenceBlock.span - 1 { present &= ~(~0 << UInt32(range.upperBound - base + 1)) }
                total += UInt64(present.nonzeroBitCount)
                entry = try cursor.next()
            }
        }
        return total
    }

    /// Every held sequence (the masks' set bits).
    func count() throws -> UInt64 { try count(in: 0...UInt64.max) }

    /// Replaces the block of `base` by `entries` (its key deleted when there are none).
    private func store(_ base: UInt64, _ entries: some Sequence<(UInt64, MessageLocation)>) throws {
        let encoder = try SequenceBlockEncoder(base: base, entries: entries)
        if encoder.isEmpty {
            try txn.delete(database, key: Key.u64(base))
        } else {
            try txn.put(database, key: Key.u64(base), value: encoder.bytes)
        }
    }

    /// Removes `sequence`; returns its location, or nil when it was not held.
    func remove(_ sequence: UInt64) throws -> MessageLocation? {
        let base = SequenceBlock.base(of: sequence)
        guard let raw = try block(base), let present = SequenceBlock.present(raw),
              present & SequenceBlock.bit(of: sequence) != 0 else { return nil }
        var decoder = try SequenceBlockDecoder(base: base, raw: raw)
        var entries = try decoder.all()
        guard let i = entries.firstIndex(where: { $0.0 == sequence }) else { return nil }
        let location = entries.remove(at: i).1
        try store(base, entries)
        return location
    }

    /// Removes the held ones of `sorted` (ascending, duplicates allowed), rewriting each block they fall in
    /// once; calls `removed` for each, in order.
    func remove(sorted: [UInt64], _ removed: (UInt64, MessageLocation) throws -> Void) throws {
        var i = 0
        while i < sorted.count {
            let base = SequenceBlock.base(of: sorted[i])
            var end = i
            while end < sorted.count, SequenceBlock.base(of: sorted[end]) == base { end += 1 }
            defer { i = end }
            guard let raw = try block(base), let present = SequenceBlock.present(raw) else { continue }
            var wanted: UInt32 = 0
            for s in sorted[i..<end] { wanted |= SequenceBlock.bit(of: s) }
            guard present & wanted != 0 else { continue }
            var decoder = try SequenceBlockDecoder(base: base, raw: raw)
            var kept: [(UInt64, MessageLocation)] = []
            kept.reserveCapacity(present.nonzeroBitCount)
            while let (held, location) = try decoder.next() {
                if wanted & SequenceBlock.bit(of: held) != 0 { try removed(held, location) } else { kept.append((held, location)) }
            }
            try store(base, kept)
        }
    }

    /// Removes every held sequence of `range`; calls `removed` for each, in order.
    func remove(range: ClosedRange<UInt64>, _ removed: (UInt64, MessageLocation) throws -> Void) throws {
        var base = SequenceBlock.base(of: range.lowerBound)
        while true {
            let found: (UInt64, [(UInt64, MessageLocation)])? = try txn.withCursor(database) { cursor in
                guard let entry = try cursor.seek(atOrAfter: Key.u64(base)) else { return nil }
                var decoder = try SequenceBlockDecoder(base: entry.key.loadBE(UInt64.self, at: 0), raw: entry.value)
                return (decoder.base, try decoder.all())
            }
            guard let (blockBase, entries) = found, blockBase <= range.upperBound else { return }
            var kept: [(UInt64, MessageLocation)] = []
            for entry in entries {
                if range.contains(entry.0) { try removed(entry.0, entry.1) } else { kept.append(entry) }
            }
            if kept.count != entries.count { try store(blockBase, kept) }
            guard blockBase <= UInt64.max - SequenceBlock.span else { return }
            base = blockBase + SequenceBlock.span
        }
    }

    /// Moves held `sequence` to `location` (a compaction's rewrite); false when it is not held.
    @discardableResult
    func update(_ sequence: UInt64, to location: MessageLocation) throws -> Bool {
        let base = SequenceBlock.base(of: sequence)
        guard let raw = try block(base) else { return false }
        var decoder = try SequenceBlockDecoder(base: base, raw: raw)
        var entries = try decoder.all()
        guard let i = entries.firstIndex(where: { $0.0 == sequence }) else { return false }
        entries[i].1 = location
        try store(base, entries)
        return true
    }
}

/// Appends sequences, each above every one held, to the sequence index within one write transaction. It keeps
/// the newest block's encoding, so an append costs one entry's encoding and one put of the block; any other
/// change to the index in the transaction must ``reset()`` it first.
struct SequenceAppender {
    private var tail: SequenceBlockEncoder?

    mutating func reset() { tail = nil }

    mutating func append(_ sequence: UInt64, _ location: MessageLocation, to index: SequenceIndex) throws {
        let base = SequenceBlock.base(of: sequence)
        var isNewKey = false
        if tail?.base != base {
            if let raw = try index.txn.get(index.database, key: Key.u64(base)) {
                tail = try SequenceBlockEncoder(continuing: raw, base: base)
            } else {
                tail = SequenceBlockEncoder(base: base)
                isNewKey = true
            }
        }
        try tail!.append(sequence, location)
        // A new block's key is above every key (its sequences are above every one held): appended.
        try index.txn.put(index.database, key: Key.u64(base), value: tail!.bytes, append: isNewKey)
    }
}
