import StreamStore

/// A consumer's read-ahead: the messages matching its filter from `start` up to the last one held, as one
/// store read found them, so that a sequential consumer reads the store once per batch, not once per
/// message. Valid while the stream has removed nothing since (`lastSequence - messages` unchanged): a new
/// message only ever comes after the last one held, and any removal drops the whole read-ahead.
struct ReadAhead {
    private var messages: [StoredMessage] = []
    private var start: UInt64 = 0
    private var removals: UInt64 = 0

    /// The first message at or after `sequence` matching `filter`: from the read-ahead when it covers
    /// `sequence`, else from the store, reading ahead for what follows (about 256 KiB of messages at the
    /// stream's average size, 1 to 64 of them). A redelivery (before `start`) is read alone and keeps it.
    mutating func message(atOrAfter sequence: UInt64, filter: String?, in store: any MessageStore) -> StoredMessage? {
        let state = store.state
        let removed = state.lastSequence &- state.messages
        if removed == removals, sequence >= start, let last = messages.last, sequence <= last.sequence {
            var low = 0, high = messages.count - 1
            while low < high {
                let middle = (low + high) / 2
                if messages[middle].sequence < sequence { low = middle + 1 } else { high = middle }
            }
            return messages[low]
        }
        if sequence < start && removed == removals {
            return try? store.next(atOrAfter: sequence, filter: filter)
        }
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
