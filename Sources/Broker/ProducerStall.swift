import NIOCore
import Platform
import Synchronization

/// A subscriber's side of nats-server's fast-producer stall: while more than half of its `max_pending` waits
/// unwritten, the clients that publish to it stop being read, until it drains below a quarter of `max_pending`
/// (its channel's low water mark) or ``ProducerStall/longest`` passes, whichever comes first. Past `max_pending`
/// it is cut off as a slow consumer, as before. Thread-safe: producers on any event loop ask
/// ``isStalling`` and register to be told when it drains.
final class ProducerStall: Sendable {
    /// nats-server's `stallClientMinDuration`: a stalled producer is read again after this at the latest (the
    /// reference lengthens it up to a second as the subscriber's backlog nears `max_pending`; here the next
    /// read stalls again instead).
    static let longest = TimeAmount.milliseconds(100)

    private let stalling = Atomic<Bool>(false)
    private let waiting = Mutex<[@Sendable () -> Void]>([])

    /// Whether producers should pause: the subscriber's channel is over its high water mark.
    var isStalling: Bool { stalling.load(ordering: .relaxed) }

    /// The subscriber's channel changed writability (on its loop): when it drained, every producer waiting
    /// is told, once.
    func writabilityChanged(writable: Bool) {
        let drained: [@Sendable () -> Void] = waiting.withLock { waiting in
            stalling.store(!writable, ordering: .relaxed)
            guard writable else { return [] }
            defer { waiting = [] }
            return waiting
        }
        for resume in drained { resume() }
    }

    /// Calls `resume` once the subscriber drains (at once when it is not stalling now).
    func whenDrained(_ resume: @escaping @Sendable () -> Void) {
        let now: Bool = waiting.withLock { waiting in
            guard stalling.load(ordering: .relaxed) else { return true }
            waiting.append(resume)
            return false
        }
        if now { resume() }
    }

    /// The subscriber is gone: nobody waits for it any more.
    func release() { writabilityChanged(writable: true) }
}
