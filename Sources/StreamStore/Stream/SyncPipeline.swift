#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// Makes a file stream's pipelined append batches durable (Specs/WritePath.md, "Pipelined sync").
///
/// The writer hands over each batch it has written and committed as a ``Ticket``; a thread of
/// ``SyncThreads`` takes every ticket handed over so far, syncs their segment once, publishes the newest
/// ticket's state (the durable watermark that bounds every read) and completes the tickets in order. So
/// the sync of one batch overlaps the writing of the next, and no ticket completes before its frames are
/// on disk. A failed sync poisons the stream and fails that ticket and every later one; the writer cuts
/// the log back to ``cut``. Thread-safe: the writer submits and waits, one pool thread at a time syncs.
final class SyncPipeline: @unchecked Sendable {
    /// One batch waiting for its sync.
    struct Ticket {
        /// Where its frames are (nil: it wrote nothing, but must complete after the tickets before it,
        /// e.g. a duplicate of a message still in the pipeline).
        var frames: Frames?
        /// The stream's state once the batch is durable.
        var state: StreamState
        /// Called once: nil when the batch is durable (after the state is published), else the failure.
        var complete: (StoreError?) -> Void
    }

    /// A batch's frames: one range of one segment, and the handle to sync.
    struct Frames {
        var segment: UInt64
        var handle: any FileHandle
        var start: Int64
        var end: Int64
    }

    /// The writer waits before handing over more than this many tickets, or more bytes of frames than
    /// ``maxBytes``, not yet durable (the bound on memory and on the region recovery checks).
    static let maxTickets = 4
    static let maxBytes: Int64 = 8 << 20

    private let condition = Condition()
    private var waiting: [Ticket] = []
    private var syncing: [Ticket] = []
    private var scheduled = false
    private var failed: StoreError?
    private var cutAt: (segment: UInt64, offset: Int64)?
    private var handedOver = 0
    /// Tickets waiting or being synced, and the bytes of their frames.
    private var pendingTickets = 0
    private var pendingBytes: Int64 = 0
    /// Threads waiting in ``waitForRoom()``, ``drain()`` or ``waitUntilHandedOver(_:)`` (only they need a
    /// broadcast).
    private var waiters = 0
    private let shared: SharedStreamState
    private let threads: SyncThreads
    private let wakeWriter: @Sendable () -> Void

    /// `wakeWriter` is called after a failed sync, so that the writer cuts the log back promptly.
    init(shared: SharedStreamState, threads: SyncThreads = .shared, wakeWriter: @escaping @Sendable () -> Void) {
        self.shared = shared
        self.threads = threads
        self.wakeWriter = wakeWriter
    }

    /// The failure of a pipelined sync, once one failed.
    var failure: StoreError? { condition.lock(); defer { condition.unlock() }; return failed }

    /// After a failed sync: where the log must be cut (the first frame of the oldest failed ticket);
    /// returned once.
    func takeCut() -> (segment: UInt64, offset: Int64)? {
        condition.lock(); defer { condition.unlock() }
        let cut = cutAt
        cutAt = nil
        return cut
    }

    /// Whether tickets are waiting or being synced.
    var isBusy: Bool { condition.lock(); defer { condition.unlock() }; return scheduled || !waiting.isEmpty }

    /// The offset in `segment` of the oldest frame whose sync has not returned (nil: none).
    func unsyncedFrom(segment: UInt64) -> Int64? {
        condition.lock(); defer { condition.unlock() }
        for ticket in syncing { if let frames = ticket.frames, frames.segment == segment { return frames.start } }
        for ticket in waiting { if let frames = ticket.frames, frames.segment == segment { return frames.start } }
        return nil
    }

    /// Hands a ticket over (writer thread). After a failure it is failed at once.
    func submit(_ ticket: Ticket) {
        condition.lock()
        if let failed {
            condition.unlock()
            ticket.complete(failed)
            return
        }
        waiting.append(ticket)
        handedOver += 1
        pendingTickets += 1
        pendingBytes += ticket.frames.map { $0.end - $0.start } ?? 0
        let start = !scheduled
        scheduled = true
        if waiters > 0 { condition.broadcast() }
        condition.unlock()
        if start { threads.run { [self] in syncAll() } }
    }

    /// Waits until another ticket may be handed over (writer thread).
    func waitForRoom() {
        condition.lock(); defer { condition.unlock() }
        waiters += 1
        while failed == nil && (pendingTickets >= Self.maxTickets || pendingBytes >= Self.maxBytes) { condition.wait() }
        waiters -= 1
    }

    /// Waits until every ticket handed over has completed (writer thread).
    func drain() {
        condition.lock(); defer { condition.unlock() }
        waiters += 1
        while scheduled { condition.wait() }
        waiters -= 1
    }

    /// How many tickets have been handed over since the pipeline was made.
    var handedOverCount: Int { condition.lock(); defer { condition.unlock() }; return handedOver }

    /// For tests: waits until `count` tickets have been handed over since the pipeline was made.
    func waitUntilHandedOver(_ count: Int) {
        condition.lock(); defer { condition.unlock() }
        waiters += 1
        while handedOver < count { condition.wait() }
        waiters -= 1
    }

    /// The pool job: syncs and completes what is waiting until nothing is.
    private func syncAll() {
        condition.lock()
        while !waiting.isEmpty {
            syncing = waiting
            waiting = []
            condition.unlock()
            var failure: (error: StoreError, poison: StoreError)?
            var synced: Set<UInt64> = []
            for frames in syncing.lazy.compactMap(\.frames).reversed() where !synced.contains(frames.segment) {
                synced.insert(frames.segment)
                do {
                    try shared.statistics.timeSync { try frames.handle.sync() }
                } catch {
                    let wrapped = StoreError.wrap(error)
                    failure = (wrapped, .needsRecovery("sync of \(frames.handle.path) failed (\(wrapped)); the stream refuses writes until it is reopened and its log checked"))
                    break
                }
            }
            if let failure {
                fail(with: failure.error, poison: failure.poison)
                return
            }
            shared.publish(state: syncing[syncing.count - 1].state, removed: [])
            for ticket in syncing { ticket.complete(nil) }
            condition.lock()
            pendingTickets -= syncing.count
            pendingBytes -= syncing.reduce(Int64(0)) { $0 + ($1.frames.map { $0.end - $0.start } ?? 0) }
            syncing = []
            if waiters > 0 { condition.broadcast() }
        }
        scheduled = false
        if waiters > 0 { condition.broadcast() }
        condition.unlock()
    }

    /// A failed sync: the stream is poisoned (`poison`), the tickets being synced fail with the sync's
    /// `error` and every one waiting with `poison`.
    private func fail(with error: StoreError, poison: StoreError) {
        shared.failure = poison
        condition.lock()
        failed = poison
        let first = syncing.lazy.compactMap(\.frames).first ?? waiting.lazy.compactMap(\.frames).first
        cutAt = first.map { ($0.segment, $0.start) }
        let (synced, later) = (syncing, waiting)
        syncing = []
        waiting = []
        pendingTickets = 0
        pendingBytes = 0
        condition.unlock()
        for ticket in synced { ticket.complete(error) }
        for ticket in later { ticket.complete(poison) }
        condition.lock()
        scheduled = false
        condition.broadcast()
        condition.unlock()
        wakeWriter()
    }
}

/// A few threads for blocking syncs, shared by every stream's ``SyncPipeline`` (a thread per stream
/// would cost thousands of threads with thousands of streams). Started on first use, up to ``limit``;
/// jobs run in the order given. A job must not wait for another job.
final class SyncThreads: @unchecked Sendable {
    static let shared = SyncThreads(limit: 4)

    let limit: Int
    private let condition = Condition()
    private var jobs: [() -> Void] = []
    private var next = 0
    private var started = 0
    private var idle = 0

    init(limit: Int) { self.limit = limit }

    func run(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        let startOne = idle == 0 && started < limit
        if startOne { started += 1 }
        condition.signal()
        condition.unlock()
        if startOne {
            DetachedThread.start(name: "strata-sync", stackSize: 256 << 10) { [self] in
                StoreThread.markCurrent()
                work()
            }
        }
    }

    private func work() {
        condition.lock()
        while true {
            while next == jobs.count {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs[next]
            next += 1
            if next == jobs.count { jobs.removeAll(keepingCapacity: true); next = 0 }
            condition.unlock()
            job()
            condition.lock()
        }
    }
}
