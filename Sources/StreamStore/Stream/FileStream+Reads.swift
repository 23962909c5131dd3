import Subjects

/// Reads run on the caller's thread against an LMDB snapshot; they never wait for the writer. Each is
/// bounded by the durable watermark, the published state's last sequence: the index may already hold
/// pipelined batches whose sync has not returned (Specs/WritePath.md, "Pipelined sync"); those only add
/// messages, so ignoring entries above the watermark reads the durable state.
extension FileStream {
    /// The last sequence a read may see.
    var watermark: UInt64 { state.lastSequence }

    /// The message with `sequence`, or nil when it is not held.
    public func message(sequence: UInt64) throws -> StoredMessage? {
        guard sequence <= watermark, let location = try index.read({ try $0.location(sequence) }) else { return nil }
        return try load(sequence: sequence, location: location, use: .point)
    }

    /// The first held message at or after `sequence` whose subject matches `filter` (all when nil).
    public func next(atOrAfter sequence: UInt64, filter: String? = nil) throws -> StoredMessage? {
        try validate(filter: filter)
        let watermark = self.watermark
        var from = sequence
        while true {
            guard let (found, location) = try index.read({ try $0.nextHeld(atOrAfter: from, filter: filter) }), found <= watermark else { return nil }
            if let message = try load(sequence: found, location: location) { return message }
            from = found + 1  // removed since the snapshot: the next one after it
        }
    }

    /// Up to `limit` held messages from `sequence` on whose subjects match `filter`, read in one snapshot
    /// (each frame is decoded once). The fast path for sequential consumers.
    /// The messages share their frames' decoded bytes when they make up at least a quarter of those frames
    /// (a scan without a sparse filter); otherwise they are copied, so that a caller keeping a few messages of
    /// many frames (a consumer's read-ahead) does not keep the frames.
    public func messages(from sequence: UInt64, filter: String? = nil, limit: Int) throws -> [StoredMessage] {
        try validate(filter: filter)
        let watermark = self.watermark
        guard sequence <= watermark else { return [] }
        let found = try index.read { try $0.held(atOrAfter: sequence, filter: filter, limit: limit) }
        var messages: [StoredMessage] = []
        messages.reserveCapacity(found.count)
        var frame: LoadedFrame?
        var messageBytes = 0, frameBytes = 0
        for (s, location) in found where s <= watermark {
            let previous = frame?.frame
            if let message = try load(sequence: s, location: location, reusing: &frame) {
                messageBytes &+= message.headers.count &+ message.payload.count
                messages.append(consume message)
            }
            if let current = frame?.frame, current !== previous { frameBytes &+= current.area.count }
        }
        if messageBytes &* 4 < frameBytes { return messages.map { $0.detached() } }
        return messages
    }

    /// The newest held message on `subject` (a literal subject, or a filter: the newest of any match).
    public func last(subject: String) throws -> StoredMessage? {
        try validate(filter: subject)
        let watermark = self.watermark
        let found: (UInt64, MessageLocation)? = try index.read { reader in
            var sequence: UInt64?
            if !Subject.hasWildcard(subject) {
                if let entry = try reader.subjectEntry(subject) { sequence = try reader.lastSequence(of: entry, atOrBelow: watermark) }
            } else {
                try reader.forEachSubject(matching: subject) { _, entry in
                    if let last = try reader.lastSequence(of: entry, atOrBelow: watermark) { sequence = max(sequence ?? 0, last) }
                    return true
                }
            }
            guard let sequence, let location = try reader.location(sequence) else { return nil }
            return (sequence, location)
        }
        guard let (sequence, location) = found else { return nil }
        return try load(sequence: sequence, location: location, use: .point)
    }

    /// The first held sequence whose timestamp is at or after `time` (ns since the epoch).
    public func firstSequence(atOrAfterTime time: Int64) throws -> UInt64? {
        let watermark = self.watermark
        return try index.read { try $0.firstSequence(atOrAfterTime: time) }.flatMap { $0 <= watermark ? $0 : nil }
    }

    /// Held message count per subject matching `filter` (all when nil).
    public func subjectCounts(filter: String? = nil) throws -> [String: UInt64] {
        try validate(filter: filter)
        let watermark = self.watermark
        return try index.read { reader in
            var counts: [String: UInt64] = [:]
            try reader.forEachSubject(matching: filter) { name, entry in
                var count = entry.count
                if entry.lastSequence > watermark { count -= try reader.count(ofSubject: entry.id, in: (watermark + 1)...UInt64.max) }
                if count > 0 { counts[name] = count }
                return true
            }
            return counts
        }
    }

    /// How many held messages match `filter` at or after `sequence` (for consumers' pending counts).
    public func count(filter: String?, in range: ClosedRange<UInt64>) throws -> UInt64 {
        try validate(filter: filter)
        let state = self.state
        let all = filter == nil || filter == ">"
        if all && range.lowerBound <= state.firstSequence && range.upperBound >= state.lastSequence { return state.messages }
        guard range.lowerBound <= state.lastSequence else { return 0 }
        let range = range.lowerBound...min(range.upperBound, state.lastSequence)
        return try index.read { reader in
            var total: UInt64 = 0
            if all { return try reader.sequences.count(in: range) }
            var ids: [UInt64]
            if let filter, let few = try reader.matchingSubjectIDs(filter) {
                ids = few
            } else {
                ids = []
                try reader.forEachSubject(matching: filter) { _, entry in ids.append(entry.id); return true }
            }
            // A short range (a consumer's pending count moved on by one delivery) is cheaper to walk once in
            // the sequence index than to look up in each subject's blocks.
            if range.upperBound - range.lowerBound < UInt64(ids.count) * 32 {
                // (A few ids are searched as they are: no set is built for each delivery's count.)
                let wanted = ids.count > 8 ? Set(ids) : nil
                try reader.sequences.walk(from: range.lowerBound) { sequence, location in
                    guard sequence <= range.upperBound else { return false }
                    if wanted?.contains(location.subjectID) ?? ids.contains(location.subjectID) { total += 1 }
                    return true
                }
                return total
            }
            for id in ids { total += try reader.count(ofSubject: id, in: range) }
            return total
        }
    }

    /// The message id's original sequence, if it was stored within the duplicate window.
    public func sequence(forMessageID id: String) throws -> UInt64? {
        let window = currentConfig.duplicateWindow
        guard window > 0, let found = try index.read({ try $0.messageID(id) }), found.timestamp >= clock() - window,
              found.sequence <= watermark else { return nil }
        return found.sequence
    }

    private func validate(filter: String?) throws {
        if let filter {
            do { try Subject.validateFilter(filter) } catch { throw StoreError.invalidSubject(filter, error) }
        }
    }

    /// Reads a message at the location a snapshot gave; nil when it has been removed since. The snapshot
    /// may predate a compaction or reclamation that moved or deleted the message's segment: when the file
    /// does not hold it there (or cannot be read), it is looked up again in a fresh snapshot while no swap
    /// can run (``SegmentReaders/swapGate``), and only a mismatch then is an error.
    /// `use`: whether this is a point read or part of a scan (what the frame cache keeps it for).
    /// `reusing`: the frame the caller's previous load read (a scan's messages lie in runs in one frame: each run
    /// asks the cache once); set to the frame this one read.
    func load(sequence: UInt64, location: MessageLocation, use: FrameCache.Use = .scan,
              reusing previous: inout LoadedFrame?) throws -> StoredMessage? {
        let key = FrameCache.Key(segment: location.segment, offset: location.frameOffset)
        if let previous, previous.key == key, let message = previous.frame.message(at: Int(location.recordIndex)),
           message.sequence == sequence {
            return message
        }
        // (try?: any failure here is retried below, where it is reported)
        if let frame = try? readers.frame(segment: location.segment, offset: location.frameOffset, use: use) {
            previous = LoadedFrame(key: key, frame: frame)
            if let message = frame.message(at: Int(location.recordIndex)), message.sequence == sequence { return message }
        }
        previous = nil
        return try readers.swapGate.withShared { () throws -> StoredMessage? in
            readers.invalidate(location.segment)
            guard let fresh = try index.read({ try $0.location(sequence) }) else { return nil }
            let frame = try readers.frame(segment: fresh.segment, offset: fresh.frameOffset, use: use)
            if let message = frame.message(at: Int(fresh.recordIndex)), message.sequence == sequence { return message }
            throw StoreError.indexMismatch("sequence \(sequence) is not at its indexed location (segment \(fresh.segment), offset \(fresh.frameOffset))")
        }
    }

    /// ``load(sequence:location:use:reusing:)`` for one message.
    func load(sequence: UInt64, location: MessageLocation, use: FrameCache.Use = .scan) throws -> StoredMessage? {
        var frame: LoadedFrame?
        return try load(sequence: sequence, location: location, use: use, reusing: &frame)
    }

    /// A frame one load read, for the next load of the same scan.
    struct LoadedFrame {
        var key: FrameCache.Key
        var frame: DecodedFrame
    }

    // MARK: Consumers

    /// Every stored consumer record, by name.
    public func consumers() throws -> [ConsumerRecord] {
        try index.read { reader in try reader.consumers() }
    }
}
