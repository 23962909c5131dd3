import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// One connection's permissions as it uses them: the pure decisions of ``Permissions``, with a cache of
/// publish decisions (so a permitted publish to a subject seen before costs one dictionary lookup), and
/// the replies `allow_responses` opens.
///
/// The publish cache is used on the connection's event loop only. The reply allowance is shared with the
/// threads that deliver to the connection's subscriptions, under a lock (only users with
/// `allow_responses` have one).
final class ConnectionPermissions: @unchecked Sendable {
    let permissions: Permissions
    /// nil unless the user has `allow_responses`.
    let replies: ReplyTracker?
    private var publishCache: [String: Bool] = [:]
    /// nats-server prunes its publish cache past 128 entries; a bounded cache here too.
    private static let cacheLimit = 1024

    init(_ permissions: Permissions) {
        self.permissions = permissions
        self.replies = permissions.responses.map(ReplyTracker.init)
    }

    /// True when the connection may publish to `subject` (on its loop).
    func allowsPublish(_ subject: String) -> Bool {
        if permissions.publishesFreely { return true }
        if let cached = publishCache[subject], cached || replies == nil { return cached }
        let allowed = permissions.allowsPublish(subject)
        if !allowed, let replies, replies.allowsReply(to: subject) { return true }  // (not cached: counted)
        if publishCache.count >= Self.cacheLimit { publishCache.removeAll(keepingCapacity: true) }
        publishCache[subject] = allowed
        return allowed
    }

    func allowsSubscribe(_ subject: String, queue: String?) -> Bool { permissions.allowsSubscribe(subject, queue: queue) }

    /// The permissions a subscription to `subject` must filter its deliveries through, when a deny entry
    /// falls within it; nil for nearly every subscription.
    func deliveryFilter(forSubscription subject: String) -> Permissions? {
        permissions.needsDeliveryFilter(forSubscription: subject) ? permissions : nil
    }
}

/// The reply subjects of requests delivered to a connection with `allow_responses` (any thread).
final class ReplyTracker: @unchecked Sendable {
    private let lock = Lock()
    private var allowance: ResponseAllowance
    private let start = ContinuousClock.now

    init(_ permission: ResponsePermission) { allowance = ResponseAllowance(permission) }

    private var now: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    func delivered(reply: String) {
        let now = self.now
        lock.withLock { allowance.delivered(reply: reply, now: now) }
    }

    func allowsReply(to subject: String) -> Bool {
        let now = self.now
        return lock.withLock { allowance.allowsReply(to: subject, now: now) }
    }
}
