/// What retention needs from a stream's index to decide and carry out removals. Implemented by the file
/// stream's LMDB writer and by the memory stream, so both follow the same rules (Specs/Retention.md).
protocol RetentionTarget {
    var streamState: StreamState { get }
    /// Removes every held sequence in `range`; returns how many were held.
    @discardableResult mutating func removeRange(_ range: ClosedRange<UInt64>) throws -> UInt64
    /// Held count of a subject and its oldest held sequence.
    mutating func subjectInfo(_ subject: String) throws -> (count: UInt64, oldest: UInt64)?
    /// The first held sequence with a timestamp at or after `time`.
    func firstSequence(atOrAfterTime time: Int64) throws -> UInt64?
}

/// The retention rules of limits-based streams, as pure decisions over a ``RetentionTarget``.
enum Retention {
    /// Checks that a message whose headers and payload take `content` bytes may be appended, with
    /// nats-server's tests: `max_msg_size` limits the content; discard new refuses when the held messages
    /// are at `max_msgs`, or when the held bytes plus the content reach `max_bytes`.
    static func admit(content: Int, config: StreamConfig, state: StreamState) throws {
        if config.maxMessageSize > 0 && UInt64(content) > config.maxMessageSize {
            throw StoreError.messageTooLarge(size: UInt64(content), limit: config.maxMessageSize)
        }
        guard config.discard == .new else { return }
        if config.maxMessages > 0 && state.messages >= config.maxMessages { throw StoreError.limitReached("messages") }
        // nats-server's test: the held bytes plus this message's headers and payload reaching the limit.
        if config.maxBytes > 0 && state.bytes + UInt64(content) >= config.maxBytes { throw StoreError.limitReached("bytes") }
    }

    /// After a message on `subject` was appended: drops the subject's oldest beyond the per-subject limit,
    /// then the stream's oldest beyond the message and byte limits.
    static func enforce<T: RetentionTarget>(afterAppendingTo subject: String, config: StreamConfig, target: inout T) throws {
        if config.maxMessagesPerSubject > 0 {
            while let info = try target.subjectInfo(subject), info.count > config.maxMessagesPerSubject {
                try target.removeRange(info.oldest...info.oldest)
            }
        }
        try enforceLimits(config: config, target: &target)
    }

    /// Drops the oldest messages while the stream is over its message or byte limit.
    static func enforceLimits<T: RetentionTarget>(config: StreamConfig, target: inout T) throws {
        if config.maxMessages > 0 && target.streamState.messages > config.maxMessages {
            // Remove just enough of the oldest: walk forward over the held sequences.
            var excess = target.streamState.messages - config.maxMessages
            while excess > 0 {
                let first = target.streamState.firstSequence
                let removed = try target.removeRange(first...first)
                excess -= min(excess, removed)
            }
        }
        if config.maxBytes > 0 {
            while target.streamState.bytes > config.maxBytes && target.streamState.messages > 0 {
                let first = target.streamState.firstSequence
                try target.removeRange(first...first)
            }
        }
    }

    /// Removes every message older than the stream's max age at `now` (ns since the epoch).
    static func expire<T: RetentionTarget>(now: Int64, config: StreamConfig, target: inout T) throws {
        guard config.maxAge > 0, target.streamState.messages > 0 else { return }
        let cutoff = now - config.maxAge
        guard target.streamState.firstTimestamp < cutoff else { return }
        let keepFrom = try target.firstSequence(atOrAfterTime: cutoff) ?? (target.streamState.lastSequence + 1)
        if keepFrom > target.streamState.firstSequence {
            try target.removeRange(target.streamState.firstSequence...(keepFrom - 1))
        }
    }

    /// The next time (ns) at which the oldest message expires, or nil when none will.
    static func nextExpiry(config: StreamConfig, state: StreamState) -> Int64? {
        guard config.maxAge > 0, state.messages > 0 else { return nil }
        return state.firstTimestamp + config.maxAge
    }
}

extension IndexWriter: RetentionTarget {
    var streamState: StreamState { state.stream }

    mutating func removeRange(_ range: ClosedRange<UInt64>) throws -> UInt64 { try remove(range: range) }

    mutating func subjectInfo(_ subject: String) throws -> (count: UInt64, oldest: UInt64)? {
        guard let entry = try subjectEntry(subject),
              let oldest = try reader.sequence(ofSubject: entry.id, atOrAfter: 0) else { return nil }
        return (entry.count, oldest)
    }

    func firstSequence(atOrAfterTime time: Int64) throws -> UInt64? { try reader.firstSequence(atOrAfterTime: time) }
}
