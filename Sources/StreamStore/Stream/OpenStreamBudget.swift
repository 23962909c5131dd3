#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// How many ``OnDemandFileStream``s may be open at once, and the thread that closes the least recently used
/// idle ones when more are open, and opens a closed one again when its oldest message is due to expire.
///
/// Guarantees:
/// - **Bounded**: once more than ``maxOpen`` streams are open, idle ones are closed (least recently used
///   first) until at most ``maxOpen`` are. A stream
///   in use, with queued or deferred work, failed or read-only is never closed; when every open stream is
///   busy the bound is exceeded until one is idle (it is a target, not a refusal).
/// - **Off the callers' threads**: closing (which drains the writer and syncs) runs on the budget's own
///   thread, never on a thread that reads or writes a stream.
/// - **Expiry continues**: a closed stream with `max_age` is opened again when its oldest message expires,
///   and its writer removes what expired.
///
/// Lock order: a stream's lock, then the budget's; the budget's thread never holds its lock while it
/// calls a stream.
public final class OpenStreamBudget: @unchecked Sendable {
    /// The most streams kept open when idle ones can be closed.
    public let maxOpen: Int
    private let condition = Condition()
    private var open: [ObjectIdentifier: WeakStream] = [:]
    private var wakeups: [ObjectIdentifier: (at: Int64, stream: WeakStream)] = [:]
    private var started = false
    private var stopped = false
    private var closedByBudget = 0
    /// Passes of the budget's thread, and opens and closes: what ``waitUntil(seconds:_:)`` waits on.
    private var changes = 0

    private struct WeakStream { weak var stream: OnDemandFileStream? }

    /// File descriptors an open stream holds: its index data and lock files, its `LOCK`, its active segment
    /// for the writer and for readers, and one more for a reader of an older segment.
    static let filesPerOpenStream = 6

    /// `maxOpen` nil: half the process's open-file limit divided among open streams (the other half is for
    /// connections and older segments), at least 16 and at most 1,000.
    public init(maxOpen: Int? = nil) {
        self.maxOpen = max(1, maxOpen ?? Self.defaultMaxOpen(fileLimit: Self.currentFileLimit()))
    }

    /// The default for a process that may open `fileLimit` files.
    public static func defaultMaxOpen(fileLimit: Int) -> Int {
        min(1_000, max(16, fileLimit / 2 / filesPerOpenStream))
    }

    /// The soft limit on open files (RLIMIT_NOFILE), or 1,024 when it cannot be read.
    static func currentFileLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return 1_024 }
        let soft = UInt64(limits.rlim_cur)
        return soft >= UInt64(Int.max / 2) ? Int.max / 2 : Int(soft)
    }

    /// Streams open now.
    public var openCount: Int { condition.withLock { open.count } }

    /// Streams the budget has closed since it started (for figures and tests).
    public var closedCount: Int { condition.withLock { closedByBudget } }

    /// Stops the budget's thread (streams stay as they are; each is closed by its owner).
    public func stop() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    deinit { stop() }

    /// Waits until `predicate` holds, looking again after every pass of the budget's thread and every open
    /// or close, for at most `seconds`; returns whether it held (for tests and tools). `predicate` runs
    /// without the budget's lock.
    public func waitUntil(seconds: Double, _ predicate: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let seen = condition.withLock { changes }
            if predicate() { return true }
            condition.lock()
            while changes == seen {
                if !condition.wait(until: deadline) {
                    condition.unlock()
                    return predicate()
                }
            }
            condition.unlock()
        }
    }

    private func changed() {
        changes += 1
        condition.broadcast()
    }

    // MARK: Called by streams (holding their own lock)

    /// Streams open beyond ``maxOpen`` before an open waits for the budget's thread to close some.
    var slack: Int { max(8, maxOpen / 4) }

    /// Called before a stream is opened at start, by the warm-up, or created: while ``maxOpen`` plus ``slack``
    /// are open, waits (at most 100 ms: when every open stream is busy the bound gives way) for the budget's
    /// thread to close idle ones, so that opening thousands of streams one after another never holds more than
    /// the budget's files. A stream opened again for a client's read or write does not wait.
    func admit() {
        condition.lock()
        defer { condition.unlock() }
        guard open.count >= maxOpen + slack else { return }
        startIfNeeded()
        condition.broadcast()
        let deadline = Date().addingTimeInterval(0.1)
        while open.count >= maxOpen + slack && !stopped {
            if !condition.wait(until: deadline) { return }
        }
    }

    func opened(_ stream: OnDemandFileStream) {
        condition.lock()
        defer { condition.unlock() }
        open[ObjectIdentifier(stream)] = WeakStream(stream: stream)
        wakeups[ObjectIdentifier(stream)] = nil
        if open.count > maxOpen { startIfNeeded() }
        changed()
    }

    /// `wakeAt`: when the closed stream must be opened again (ns since the epoch; nil: only on demand).
    func closed(_ stream: OnDemandFileStream, wakeAt: Int64?, byBudget: Bool) {
        condition.lock()
        defer { condition.unlock() }
        open[ObjectIdentifier(stream)] = nil
        if byBudget { closedByBudget += 1 }
        if let wakeAt {
            wakeups[ObjectIdentifier(stream)] = (wakeAt, WeakStream(stream: stream))
            startIfNeeded()
        } else {
            wakeups[ObjectIdentifier(stream)] = nil
        }
        changed()
    }

    /// A stream that is gone for good (deleted, or the server stops).
    func forget(_ stream: OnDemandFileStream) {
        condition.withLock {
            open[ObjectIdentifier(stream)] = nil
            wakeups[ObjectIdentifier(stream)] = nil
        }
    }

    // MARK: The budget's thread

    private func startIfNeeded() {
        guard !started, !stopped else { return }
        started = true
        DetachedThread.start(name: "strata-budget", stackSize: 256 << 10) { [weak self] in self?.run() }
    }

    private func run() {
        condition.lock()
        while !stopped {
            let now = FileStream.systemClock()
            let due = wakeups.filter { $0.value.at <= now }
            for key in due.keys { wakeups[key] = nil }
            // Once over the bound, close down to 7/8 of it: fewer passes over the open streams.
            let excess = open.count > maxOpen ? open.count - (maxOpen - maxOpen / 8) : 0
            if due.isEmpty && excess <= 0 {
                if let next = wakeups.values.map(\.at).min() {
                    _ = condition.wait(until: Date(timeIntervalSince1970: Double(next) / 1e9))
                } else {
                    condition.wait()
                }
                continue
            }
            let candidates = excess > 0 ? open.values.compactMap(\.stream) : []
            condition.unlock()
            for wakeup in due.values { wakeup.stream.stream?.wake() }
            let closed = excess > 0 ? closeIdle(candidates, count: excess) : 0
            condition.lock()
            changed()
            if excess > 0 && closed == 0 && !stopped {
                // Every open stream is busy: look again shortly (or when another opens).
                _ = condition.wait(until: Date().addingTimeInterval(0.05))
            }
        }
        condition.unlock()
    }

    /// Closes up to `count` idle streams of `candidates`, least recently used first. Returns how many it closed.
    private func closeIdle(_ candidates: [OnDemandFileStream], count: Int) -> Int {
        let ordered = candidates.map { ($0, $0.lastUse) }.sorted { $0.1 < $1.1 }.map(\.0)
        var closed = 0
        for stream in ordered where closed < count {
            if stream.closeIfIdle() { closed += 1 }
        }
        return closed
    }
}
