import Testing
@testable import Broker

/// The router's caches answer what its subject tree answers, before and after subscriptions change.
@Suite struct RouterCacheTests {
    static func subscription(_ subject: String, in router: Router) -> Subscription {
        Subscription(router: router, subject: subject, receiver: { _ in })
    }

    static func reached(_ router: Router, _ subject: String, cache: Bool) -> Set<ObjectIdentifier> {
        let matches = router.matches(subject, cache: cache)
        return Set((matches.plain + matches.groups.flatMap { $0 }).map(ObjectIdentifier.init))
    }

    @Test func repliesToAnInboxAreCachedByPrefixAndForgottenOnChange() {
        let router = Router()
        let inbox = Self.subscription("_INBOX.abc.*", in: router)
        router.add(inbox)
        // One-off replies: the first is looked up, the next are answered by the prefix.
        for i in 0..<3 {
            #expect(Self.reached(router, "_INBOX.abc.\(i)", cache: false) == [ObjectIdentifier(inbox)])
        }
        #expect(Self.reached(router, "_INBOX.abd.1", cache: false).isEmpty)
        #expect(Self.reached(router, "_INBOX.abc.1.2", cache: false).isEmpty)
        // A literal subscription on one reply: that reply reaches both, the others still the inbox alone.
        let literal = Self.subscription("_INBOX.abc.7", in: router)
        router.add(literal)
        #expect(Self.reached(router, "_INBOX.abc.7", cache: false) == [ObjectIdentifier(inbox), ObjectIdentifier(literal)])
        #expect(Self.reached(router, "_INBOX.abc.8", cache: false) == [ObjectIdentifier(inbox)])
        #expect(Self.reached(router, "_INBOX.abc.7", cache: false) == [ObjectIdentifier(inbox), ObjectIdentifier(literal)])
        // And gone again.
        router.remove(inbox)
        #expect(Self.reached(router, "_INBOX.abc.8", cache: false).isEmpty)
        #expect(Self.reached(router, "_INBOX.abc.7", cache: true) == [ObjectIdentifier(literal)])
    }

    @Test func cachedSubjectsFollowAddedAndRemovedSubscriptions() {
        let router = Router()
        let all = Self.subscription("orders.>", in: router)
        router.add(all)
        #expect(Self.reached(router, "orders.eu.1", cache: true) == [ObjectIdentifier(all)])
        let eu = Self.subscription("orders.eu.*", in: router)
        router.add(eu)
        #expect(Self.reached(router, "orders.eu.1", cache: true) == [ObjectIdentifier(all), ObjectIdentifier(eu)])
        #expect(Self.reached(router, "orders.us.1", cache: true) == [ObjectIdentifier(all)])
        router.remove(all)
        #expect(Self.reached(router, "orders.eu.1", cache: true) == [ObjectIdentifier(eu)])
        #expect(Self.reached(router, "orders.us.1", cache: true).isEmpty)
    }
}
