#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// The single writer's inbox: callers enqueue operations from any thread; the writer thread takes them
/// all at once, so that appends arriving while a batch is being synced form the next batch (group commit).
final class WriteQueue<Operation>: @unchecked Sendable {
    private let condition = Condition()
    private var pending: [Operation] = []
    private var closed = false
    private var bytes = 0
    private var woken = false

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
        condition.signal()
        return true
    }

    /// Waits until there is work, the queue closes, or `deadline` passes; returns everything pending
    /// and whether the queue is closed.
    func take(until deadline: Date?) -> (operations: [Operation], closed: Bool) {
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
        pending.removeAll(keepingCapacity: true)
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
