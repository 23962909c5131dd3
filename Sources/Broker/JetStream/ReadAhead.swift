import StreamStore

/// A consumer's read-ahead: the messages matching its filter from `start` up to the last one held, as one
/// store read found them, so that a sequential consumer reads the store once per batch, not once per
/// message. A new message only ever comes after the last one held; a removal invalidates the read-ahead
/// only when it may have touched the messages it holds (the store's removal history says), so the acks
/// of a work queue, which remove messages before it, keep it.
struct ReadAhead {
    private var messages: [StoredMessage] = []
    private var start: UInt64 = 0
    /// The store's removal count when the read-ahead was last known valid.
    private var removals: UInt64 = 0

    /// The first message at or after `sequence` matching `filter`: from the read-ahead when it covers
    /// `sequence`, else from the store, reading ahead for what follows (about 256 KiB of messages at the
    /// stream's average size, 1 to 64 of them). A redelivery (before `start`) is read alone and keeps it.
    /// A read that fails is reported as no message (the consumer tries again on its next tick).
    mutating func message(atOrAfter sequence: UInt64, filter: String?, in store: any MessageStore) -> StoredMessage? {
        if sequence >= start, let last = messages.last, sequence <= last.sequence {
            let check = store.removals(since: removals, touching: start...last.sequence)
            if !check.touched {
                removals = check.count
                var low = 0, high = messages.count - 1
                while low < high {
                    let middle = (low + high) / 2
                    if messages[middle].sequence < sequence { low = middle + 1 } else { high = middle }
                }
                return messages[low]
            }
        }
        let state = store.state
        if sequence > state.lastSequence { return nil }  // nothing there yet: the read-ahead is kept
        if sequence < start, !messages.isEmpty {
            // (try?: a read that fails is no message now; the consumer looks again on its next tick)
            return try? store.next(atOrAfter: sequence, filter: filter)
        }
        let removed = state.lastSequence &- state.messages
        let average = state.messages > 0 ? max(Int(state.bytes / state.messages), 1) : 1024
        let limit = min(64, max(1, (256 << 10) / average))
        guard let read = try? store.messages(from: sequence, filter: filter, limit: limit), !read.isEmpty else {
            messages.removeAll()
            return nil
        }
        messages = read
        start = sequence
        removals = removed
        return read[0]
    }
}
