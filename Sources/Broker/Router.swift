#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import Subjects
import Synchronization

/// Told of every subscription added to or removed from a ``Router`` (a leaf connection, which keeps the
/// other side's view of this account's interest). Called with the router's lock held, in the order of the
/// changes: an observer must not call back into the router, and must return quickly.
protocol InterestObserver: AnyObject, Sendable {
    func interestChanged(_ subscription: Subscription, delta: Int)
}

/// Subjects to subscriptions, shared by every connection: a subject tree plus two caches of recent
/// non-empty match results, cleared on any change: one by subject, and one by a subject's prefix (all but its last
/// token) for results no subscription's last literal token decides (replies to `_INBOX.<id>.*`, each subject seen
/// once). Queue subscriptions are grouped so that a message goes to one member
/// of each group (chosen at random, as the reference does) and to every plain subscription. Thread-safe.
final class Router: @unchecked Sendable {
    /// The subscriptions one subject reaches.
    struct Matches {
        var plain: [Subscription] = []
        var groups: [[Subscription]] = []
        /// Some of them are leaf connections' interest (routing then forwards to each leaf once).
        var remote = false
        var isEmpty: Bool { plain.isEmpty && groups.isEmpty }
    }

    private let lock = Lock()
    private var tree = SubjectTree<Subscription>()
    private var cache: [String: Matches] = [:]
    private var byPrefix: [SubjectPrefix: Matches] = [:]
    private var lastPrefix: (prefix: SubjectPrefix, matches: Matches)?
    private let cacheLimit = 4096
    private let changes = Atomic<UInt64>(0)
    private var observers: [any InterestObserver] = []

    /// Changes with every subscription added or removed: a match result taken when it had one value is
    /// valid while it keeps it (read it before matching).
    var version: UInt64 { changes.load(ordering: .acquiring) }

    func add(_ subscription: Subscription) {
        lock.lock(); defer { lock.unlock() }
        tree.insert(subscription.subject, subscription)
        cache.removeAll(keepingCapacity: true)
        byPrefix.removeAll(keepingCapacity: true)
        lastPrefix = nil
        changes.add(1, ordering: .releasing)
        for observer in observers { observer.interestChanged(subscription, delta: 1) }
    }

    func remove(_ subscription: Subscription) {
        lock.lock(); defer { lock.unlock() }
        if tree.remove(subscription.subject, subscription) {
            cache.removeAll(keepingCapacity: true)
            byPrefix.removeAll(keepingCapacity: true)
        lastPrefix = nil
            changes.add(1, ordering: .releasing)
            for observer in observers { observer.interestChanged(subscription, delta: -1) }
        }
    }

    var count: Int { lock.lock(); defer { lock.unlock() }; return tree.count }

    /// Registers `observer` and hands `snapshot` every subscription there is at that moment, atomically: the
    /// observer is then told of every change after the snapshot and of none before it.
    func observe(_ observer: any InterestObserver, snapshot: ([Subscription]) -> Void) {
        lock.lock(); defer { lock.unlock() }
        observers.append(observer)
        snapshot(tree.values)
    }

    func stopObserving(_ observer: any InterestObserver) {
        lock.lock(); defer { lock.unlock() }
        observers.removeAll { $0 === observer }
    }

    /// The subscriptions `subject` reaches; with `cache` false (a one-off reply subject) the result is kept
    /// only by the subject's prefix, when its last token did not decide it.
    func matches(_ subject: String, cache useCache: Bool = true) -> Matches {
        lock.lock(); defer { lock.unlock() }
        if useCache, let cached = cache[subject] { return cached }
        let prefix = SubjectPrefix(of: subject)
        if let prefix, !byPrefix.isEmpty {
            // A run of replies to one inbox shares its prefix: the last one found is compared first.
            if let last = lastPrefix, last.prefix == prefix { return last.matches }
            if let cached = byPrefix[prefix] {
                lastPrefix = (prefix, cached)
                return cached
            }
        }
        var result = Matches()
        var groups: [String: [Subscription]] = [:]
        let (subscriptions, lastTokenMatters) = tree.matchesNotingLastToken(subject)
        for subscription in subscriptions {
            if subscription.leaf != nil { result.remote = true }
            if let queue = subscription.queue { groups[queue, default: []].append(subscription) } else { result.plain.append(subscription) }
        }
        if !groups.isEmpty { result.groups = Array(groups.values) }
        // Misses are not cached: they are found quickly, and most are one-off subjects (acks).
        if result.isEmpty { return result }
        if let prefix, !lastTokenMatters {
            if byPrefix.count >= cacheLimit { byPrefix.removeAll(keepingCapacity: true) }
            byPrefix[prefix] = result
            lastPrefix = (prefix, result)
            return result
        }
        guard useCache else { return result }
        if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[subject] = result
        return result
    }
}

/// A subject's tokens but the last, with the dot before it (`_INBOX.x.` of `_INBOX.x.y`), compared and hashed
/// by its UTF-8 bytes; nil for a subject of one token.
struct SubjectPrefix: Hashable {
    let text: Substring

    init?(of subject: String) {
        guard let dot = subject.utf8.lastIndex(of: UInt8(ascii: ".")) else { return nil }
        text = Substring(subject.utf8[...dot])
    }

    static func == (a: SubjectPrefix, b: SubjectPrefix) -> Bool {
        guard a.text.utf8.count == b.text.utf8.count else { return false }
        var a = a.text, b = b.text
        return a.withUTF8 { a in b.withUTF8 { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
    }

    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
