import NIOCore
import Synchronization

/// The bytes a connection handed to its channel whose writes have not completed (the socket has not taken
/// them all yet), readable from any thread. Push consumers pace a backlog by it (``ConsumerHost``).
final class UnwrittenBytes: Sendable {
    private let count = Atomic<Int>(0)

    var value: Int { count.load(ordering: .relaxed) }

    /// A promise for a write of `size` bytes on `loop`: they count until the write completes or fails.
    func promise(forWriteOf size: Int, on loop: any EventLoop) -> EventLoopPromise<Void> {
        count.add(size, ordering: .relaxed)
        let promise = loop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { [self] _ in count.subtract(size, ordering: .relaxed) }
        return promise
    }
}
