import Platform

/// The decoded frames one stream's reads keep, so that a frame read again is not read and decompressed again.
///
/// Two parts, because the two kinds of read want different things:
/// - **scans** (a consumer reading on, `messages(from:)`, `next(atOrAfter:)`) read a frame's messages one after
///   another and seldom come back: they keep the last ``scanCapacity`` frames, first in, first out;
/// - **point reads** (`last(subject:)`, `message(sequence:)`: KV gets, direct gets, redeliveries) come back to
///   the same frames, such as the tail where every key's latest value is: they keep frames up to
///   ``pointLimit`` bytes, with a second chance (a frame hit since it was queued goes round again).
///   A point read of a frame the scans hold moves it to the point part.
///
/// A value type without locks or I/O: its owner (``SegmentReaders``) holds it under its lock, and tells each
/// insert how many bytes the point part may hold then (the process-wide ``FrameCacheBudget`` may hold it to
/// what it has). Every insert and removal returns the change in the point part's bytes, for that budget.
struct FrameCache {
    struct Key: Hashable { var segment: UInt64; var offset: UInt64 }

    enum Use { case scan, point }

    private struct Entry {
        var frame: DecodedFrame
        var bytes: Int
        var isPoint: Bool
        var referenced = false
    }

    let scanCapacity: Int
    private var entries: [Key: Entry] = [:]
    /// Keys in the order they joined their part (a key may be stale: moved to the other part, or removed).
    private var scanOrder = KeyQueue()
    private var pointOrder = KeyQueue()
    private(set) var scanCount = 0
    /// Bytes the point part holds (``DecodedFrame/cost`` of each frame).
    private(set) var pointBytes = 0

    init(scanCapacity: Int) { self.scanCapacity = max(1, scanCapacity) }

    var count: Int { entries.count }

    /// The frame at `key`, if kept. A point read marks it used (a second chance), and moves a scan's frame to
    /// the point part when `pointLimit` leaves room for it; the change in ``pointBytes`` is added to `delta`.
    /// (`pointLimit` is asked only for such a move.)
    mutating func frame(_ key: Key, use: Use, pointLimit: () -> Int, delta: inout Int) -> DecodedFrame? {
        guard var entry = entries[key] else { return nil }
        if use == .point {
            if entry.isPoint {
                if !entry.referenced { entry.referenced = true; entries[key] = entry }
            } else if case let pointLimit = pointLimit(), entry.bytes <= pointLimit {
                entry.isPoint = true
                scanCount -= 1
                entries[key] = entry
                pointBytes += entry.bytes
                delta += entry.bytes
                pointOrder.append(key)
                delta += evictPoints(toFit: pointLimit)
            }
        }
        return entry.frame
    }

    /// Keeps `frame` at `key` for reads of kind `use` (a point frame only if it fits in `pointLimit` bytes),
    /// letting older frames go. Returns the change in ``pointBytes``.
    mutating func insert(_ frame: DecodedFrame, at key: Key, use: Use, pointLimit: Int) -> Int {
        guard entries[key] == nil else { return 0 }
        let bytes = frame.cost
        switch use {
        case .scan:
            entries[key] = Entry(frame: frame, bytes: bytes, isPoint: false)
            scanOrder.append(key)
            scanCount += 1
            while scanCount > scanCapacity, let oldest = scanOrder.popFirst() {
                if let entry = entries[oldest], !entry.isPoint { entries[oldest] = nil; scanCount -= 1 }
            }
            return 0
        case .point:
            guard bytes <= pointLimit else { return 0 }
            var delta = evictPoints(toFit: pointLimit - bytes)
            entries[key] = Entry(frame: frame, bytes: bytes, isPoint: true)
            pointOrder.append(key)
            pointBytes += bytes
            delta += bytes
            return delta
        }
    }

    /// Forgets every frame of `segment`. Returns the change in ``pointBytes``.
    mutating func remove(segment: UInt64) -> Int {
        var delta = 0
        for (key, entry) in entries where key.segment == segment {
            entries[key] = nil
            if entry.isPoint { pointBytes -= entry.bytes; delta -= entry.bytes } else { scanCount -= 1 }
        }
        scanOrder.removeAll { $0.segment == segment }
        pointOrder.removeAll { $0.segment == segment }
        return delta
    }

    /// Lets point frames go, oldest first, skipping (once) those used since they were queued, until the point
    /// part holds at most `limit` bytes. Returns the (negative) change in ``pointBytes``.
    private mutating func evictPoints(toFit limit: Int) -> Int {
        var delta = 0
        while pointBytes > max(limit, 0), let oldest = pointOrder.popFirst() {
            guard var entry = entries[oldest], entry.isPoint else { continue }
            if entry.referenced {
                entry.referenced = false
                entries[oldest] = entry
                pointOrder.append(oldest)
            } else {
                entries[oldest] = nil
                pointBytes -= entry.bytes
                delta -= entry.bytes
            }
        }
        return delta
    }
}

/// A first-in, first-out queue of frame keys: an array and the index of its head, compacted once half of it
/// is taken.
private struct KeyQueue {
    private var keys: [FrameCache.Key] = []
    private var head = 0

    mutating func append(_ key: FrameCache.Key) { keys.append(key) }

    mutating func popFirst() -> FrameCache.Key? {
        guard head < keys.count else { return nil }
        let key = keys[head]
        head += 1
        if head >= 64 && head * 2 >= keys.count {
            keys.removeFirst(head)
            head = 0
        }
        return key
    }

    mutating func removeAll(where shouldRemove: (FrameCache.Key) -> Bool) {
        keys = keys[head...].filter { !shouldRemove($0) }
        head = 0
    }
}

/// The bytes the point parts of every open stream's ``FrameCache`` may hold together, so that a process with
/// many streams read at random holds a bounded amount of decoded frames (each stream may also hold at most
/// ``SegmentReaders/pointBytesPerStream``). Approximate: streams check it and then add to it, so two at once
/// may pass it by a frame each.
final class FrameCacheBudget: @unchecked Sendable {
    /// The process's budget: 64 MiB.
    static let shared = FrameCacheBudget(limit: 64 << 20)

    let limit: Int
    private let lock = Lock()
    private var used = 0

    init(limit: Int) { self.limit = limit }

    /// Bytes held now.
    var held: Int { lock.withLock { used } }

    /// Whether `bytes` more fit.
    func hasRoom(for bytes: Int) -> Bool { lock.withLock { used + bytes <= limit } }

    func adjust(by delta: Int) {
        guard delta != 0 else { return }
        lock.withLock { used += delta }
    }
}
