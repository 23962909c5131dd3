#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// Runs `then` once `count` arrivals have happened, on the thread of the last one (an AckSync's reply
/// waits for its stored state and for the removal it released, which complete on the writer's thread).
final class CompletionBarrier: @unchecked Sendable {
    private let lock = Lock()
    private var remaining: Int
    private let then: @Sendable () -> Void

    init(count: Int, then: @escaping @Sendable () -> Void) {
        remaining = count
        self.then = then
    }

    func arrive() {
        let last: Bool = lock.withLock { remaining -= 1; return remaining == 0 }
        if last { then() }
    }
}
