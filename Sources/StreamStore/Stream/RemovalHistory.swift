/// What the last removals of a stream touched, so that a reader holding messages read earlier (a
/// consumer's read-ahead) can tell whether any of them has been removed since, without reading again.
///
/// A stream's removal count is `lastSequence - messages` (every sequence up to the last is held or
/// removed), so it only grows. Each removal write adds one entry: the count before and after it and the
/// lowest and highest sequence it removed. The history keeps the newest ``capacity`` entries; a question
/// about removals older than that is answered "maybe", which only costs the reader a fresh read.
public struct RemovalHistory: Sendable, Equatable {
    struct Entry: Equatable {
        var before: UInt64
        var after: UInt64
        var lowest: UInt64
        var highest: UInt64
    }

    static let capacity = 256
    private var entries: [Entry] = []
    private var head = 0

    public init() {}

    /// Records a removal write that took the removal count from `before` to `after`, removing sequences
    /// within `lowest...highest`.
    mutating func record(before: UInt64, after: UInt64, lowest: UInt64, highest: UInt64) {
        guard after > before else { return }
        let entry = Entry(before: before, after: after, lowest: lowest, highest: highest)
        if entries.count < Self.capacity {
            entries.append(entry)
        } else {
            entries[head] = entry
            head = (head + 1) % Self.capacity
        }
    }

    /// Whether a removal since the count was `since` (up to `now`, the current count) may have removed a
    /// sequence in `range`: false only when every such removal is known and none touched the range.
    public func mayHaveRemoved(in range: ClosedRange<UInt64>, since: UInt64, now: UInt64) -> Bool {
        if since >= now { return false }
        var covered = now  // removals in (covered, now] are known, newest entry first
        for offset in 0..<entries.count {
            let entry = entries[(head + entries.count - 1 - offset) % entries.count]
            if entry.after != covered { return true }  // a removal not recorded: cannot tell
            if entry.lowest <= range.upperBound && entry.highest >= range.lowerBound { return true }
            covered = entry.before
            if covered <= since { return false }
        }
        return true
    }
}
