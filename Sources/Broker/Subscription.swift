import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import NATSProtocol
import NIOCore
import Synchronization

/// A message routed to one of the server's own subscriptions (a mirror's or a source's): the subject it
/// is shown under, its reply subject, headers and payload.
struct InternalDelivery: Sendable {
    var subject: String
    var reply: String?
    var headers: ByteBuffer?
    var payload: ByteBuffer
}

/// One subscription in an account's subject space: a client's, the interest the other side of a leaf
/// connection declared (`LS+`), which routing forwards over that connection, or one of the server's own,
/// whose messages go to a function. Identity is the object (a client may subscribe the same subject twice).
final class Subscription: Hashable, @unchecked Sendable {
    /// The client that receives; nil for a leaf connection's interest and the server's own.
    let client: ClientConnection?
    /// The leaf connection whose other side has this interest; nil for a client's subscription.
    let leaf: LeafConnection?
    /// Receives the messages of one of the server's own subscriptions, on the routing thread (it must
    /// return quickly); nil for the others.
    let receiver: (@Sendable (InternalDelivery) -> Void)?
    /// The subject space (the account's router) this subscription is in.
    unowned let router: Router
    let sid: String
    let subject: String
    let queue: String?
    /// Whether the client said `headers: true` in its CONNECT: a client that did not is sent messages
    /// without their header block (`MSG` with the payload only), as the reference does.
    let receivesHeaders: Bool
    /// The subscriber's permissions when a deny entry falls within this (wildcard) subscription: messages
    /// on denied subjects are not delivered to it. nil for nearly every subscription.
    let deliveryFilter: Permissions?
    /// The subscriber's reply allowance (`allow_responses`): a delivered request opens its reply subject.
    let replies: ReplyTracker?
    /// Guards `maxMessages` and the count once a limit is set; before that, deliveries are only counted.
    private let lock = Lock()
    private var maxMessages: Int?
    private let limited = Atomic<Bool>(false)
    private let delivered = Atomic<Int>(0)

    init(client: ClientConnection, router: Router, sid: String, subject: String, queue: String?, receivesHeaders: Bool,
         deliveryFilter: Permissions? = nil, replies: ReplyTracker? = nil) {
        self.client = client
        self.leaf = nil
        self.receiver = nil
        self.router = router
        self.deliveryFilter = deliveryFilter
        self.replies = replies
        self.receivesHeaders = receivesHeaders
        self.sid = sid
        self.subject = subject
        self.queue = queue
    }

    /// The interest `key` of the other side of `leaf` (delivered with headers: leaf connections carry them).
    init(leaf: LeafConnection, router: Router, key: LeafInterestKey) {
        self.client = nil
        self.leaf = leaf
        self.receiver = nil
        self.router = router
        self.sid = key.description
        self.subject = key.subject
        self.queue = key.queue
        self.receivesHeaders = true
        self.deliveryFilter = nil
        self.replies = nil
    }

    /// One of the server's own subscriptions: what `subject` reaches goes to `receiver` (headers included).
    init(router: Router, subject: String, receiver: @escaping @Sendable (InternalDelivery) -> Void) {
        self.client = nil
        self.leaf = nil
        self.receiver = receiver
        self.router = router
        self.sid = "internal"
        self.subject = subject
        self.queue = nil
        self.receivesHeaders = true
        self.deliveryFilter = nil
        self.replies = nil
    }

    /// The interest key nats-server counts this subscription under (`subject` or `subject queue`).
    var interestKey: LeafInterestKey { LeafInterestKey(subject: subject, queue: queue) }

    static func == (a: Subscription, b: Subscription) -> Bool { a === b }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    /// Sets the auto-unsubscribe limit; returns true when it is already reached.
    func limit(to max: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        maxMessages = max
        limited.store(true, ordering: .releasing)
        return delivered.load(ordering: .relaxed) >= max
    }

    /// True when a message on `subject` (with `reply`) may be delivered here; a reply subject it carries is
    /// opened for the subscriber's responses. Costs two nil checks for a subscription without either.
    @inline(__always)
    func admits(_ subject: String, reply: String?) -> Bool {
        if let deliveryFilter, deliveryFilter.deniesDelivery(of: subject) { return false }
        if let replies, let reply { replies.delivered(reply: reply) }
        return true
    }

    /// Counts one delivery. Returns (deliver, lastOne): whether to deliver, and whether this was the last.
    /// Without a limit (nearly every subscription) one atomic add and no lock.
    func claimDelivery() -> (deliver: Bool, last: Bool) {
        guard limited.load(ordering: .acquiring) else {
            delivered.wrappingAdd(1, ordering: .relaxed)
            return (true, false)
        }
        lock.lock(); defer { lock.unlock() }
        let count = delivered.load(ordering: .relaxed)
        guard let max = maxMessages, count < max else { return (false, true) }
        delivered.store(count + 1, ordering: .relaxed)
        return (true, count + 1 >= max)
    }
}
