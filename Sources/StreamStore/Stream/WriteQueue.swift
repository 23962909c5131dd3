#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import Synchronization

/// The single writer's inbox: callers enqueue operations from any thread; the writer thread takes them
/// all at once, so that appends arriving while a batch is being synced form the next batch (group commit).
final class WriteQueue<Operation>: @unchecked Sendable {
    /// `spin`: how long the writer may spin for new work before it sleeps (``SpinPolicy``; zero: never).
    init(spin: Duration = WriterSpin.defaultDuration) {
        self.spinPolicy = SpinPolicy(limit: spin)
    }

    private let condition = Condition()
    private var pending: [Operation] = []
    private var closed = false
    private var bytes = 0
    private var woken = false
    /// Operations queued and not yet taken, readable without the lock (for the writer's spin).
    private let queuedCount = Atomic<Int>(0)
    /// Whether the next wait spins first (touched by the writer thread only).
    private var spinPolicy: SpinPolicy

    /// Bytes (of message payload, as callers count them) queued and not yet taken.
    var pendingBytes: Int { condition.lock(); defer { condition.unlock() }; return bytes }

    /// Whether operations wait to be taken.
    var hasPending: Bool { condition.lock(); defer { condition.unlock() }; return !pending.isEmpty }

    /// Adds an operation of `bytes`; returns false when the queue is closed.
    func enqueue(_ operation: Operation, bytes: Int = 0) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        pending.append(operation)
        self.bytes += bytes
        queuedCount.store(pending.count, ordering: .releasing)
        condition.signal()
        return true
    }

    /// Adds several operations of `bytes` in all at once; returns false (adding none) when the queue is closed.
    func enqueue(contentsOf operations: [Operation], bytes: Int = 0) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        pending.append(contentsOf: operations)
        self.bytes += bytes
        queuedCount.store(pending.count, ordering: .releasing)
        condition.signal()
        return true
    }

    /// Waits until there is work, the queue closes, or `deadline` passes; returns everything pending
    /// and whether the queue is closed.
    func take(until deadline: Date?) -> (operations: [Operation], closed: Bool) {
        let clock = ContinuousClock()
        let start = clock.now
        if spinPolicy.spinsNext, queuedCount.load(ordering: .acquiring) == 0, WriterSpin.gate.claim() {
            let end = start.advanced(by: spinPolicy.limit)
            while queuedCount.load(ordering: .acquiring) == 0 && clock.now < end {}
            WriterSpin.gate.release()
        }
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !closed && !woken {
            if let deadline {
                if !condition.wait(until: deadline) { break }
            } else {
                condition.wait()
            }
        }
        let taken = pending
        spinPolicy.took(taken.count, after: clock.now - start)
        pending.removeAll(keepingCapacity: true)
        queuedCount.store(0, ordering: .releasing)
        bytes = 0
        woken = false
        return (taken, closed)
    }

    /// Makes the writer's current or next wait return at once, with nothing to do (so that it looks at
    /// state changed outside its queue: a failed pipelined sync).
    func wake() {
        condition.lock()
        woken = true
        condition.signal()
        condition.unlock()
    }

    /// Stops accepting operations; the writer drains what is pending, then stops.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// When a stream's writer spins for its next operation instead of sleeping. A sleeping thread's wake-up
/// costs tens of microseconds here, a large part of a lone synchronous publish's round trip (the writer
/// syncs, completes, and the client's next publish arrives one round trip later). Spinning pays only for
/// such a tight loop of single operations; batches mean work keeps coming, and a stream written now and
/// then must not burn a core after each write. So the writer spins before its next wait only when its last
/// take found one operation after a wait shorter than the limit (a spin would have caught it).
/// A pure state machine: the queue feeds it what each take found and how long it waited.
struct SpinPolicy: Equatable {
    /// The longest spin; zero never spins.
    let limit: Duration
    /// Whether the next wait spins first.
    private(set) var spinsNext = false

    init(limit: Duration) { self.limit = limit }

    /// A take returned `count` operations after waiting `waited`.
    mutating func took(_ count: Int, after waited: Duration) {
        spinsNext = limit > .zero && count == 1 && waited <= limit
    }
}

/// The process-wide side of the writers' spin: its default length, and the gate that lets at most one
/// writer spin at a time (a machine of many streams never has more than one core busy waiting).
enum WriterSpin {
    /// 600 µs, or `STRATA_WRITER_SPIN_US` (0 turns it off): about a synchronous publish's round trip here.
    static let defaultDuration: Duration = .microseconds(
        ProcessInfo.processInfo.environment["STRATA_WRITER_SPIN_US"].flatMap(Int.init) ?? 600)

    /// The gate every writer shares.
    static let gate = SpinGate()
}

/// Lets one thread at a time spin.
final class SpinGate: Sendable {
    private let spinning = Atomic<Bool>(false)

    /// True when the caller may spin (nobody else is); it calls ``release()`` after.
    func claim() -> Bool {
        spinning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    func release() { spinning.store(false, ordering: .releasing) }
}
