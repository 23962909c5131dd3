import Subjects

/// What a user may publish and subscribe to, as nats-server configures it (`permissions { publish,
/// subscribe, allow_responses }`), and the decisions it gives. Pure: no state, no I/O.
///
/// The decisions follow nats-server 2.9's `pubAllowed` and `canSubscribe`:
/// - An absent allow list allows everything; a present one (even empty) allows only what one of its
///   entries matches. A deny entry that matches overrules the allow list.
/// - A subscription subject is checked as its tokens stand: the entry `foo.>` allows the subscription
///   `foo.*`, the entry `foo.bar` does not.
/// - A subscribe entry may name a queue group after a space (`"foo v1"`): it then allows (or denies) that
///   subject in queue subscriptions of that group (the group may be a wildcard pattern).
/// - A wildcard subscription that a deny entry falls within (`foo.*` with `foo.secret` denied) is allowed,
///   but messages on denied subjects are not delivered to it (``deniesDelivery(of:)``).
public struct Permissions: Sendable, Equatable {
    public var publish: SubjectPermission?
    public var subscribe: SubjectPermission?
    /// Replies to the requests this user receives are allowed without publish rights
    /// (`allow_responses`).
    public var responses: ResponsePermission?

    public init(publish: SubjectPermission? = nil, subscribe: SubjectPermission? = nil, responses: ResponsePermission? = nil) {
        self.publish = publish
        self.subscribe = subscribe
        self.responses = responses
        // As nats-server: responses without publish rights turn off the blanket allow.
        if responses != nil {
            if self.publish == nil { self.publish = SubjectPermission() }
            if self.publish!.allow == nil { self.publish!.allow = [] }
        }
    }

    /// True when the publish lists allow `subject` (a literal subject). A reply allowed by
    /// ``responses`` is decided by the caller's ``ResponseAllowance``.
    public func allowsPublish(_ subject: String) -> Bool {
        guard let publish else { return true }
        var allowed = true
        if let allow = publish.allow { allowed = allow.contains { $0.queue == nil && Subject.matches(subject, filter: $0.subject) } }
        if allowed, !publish.deny.isEmpty { allowed = !publish.deny.contains { $0.queue == nil && Subject.matches(subject, filter: $0.subject) } }
        return allowed
    }

    /// True when a publish needs no check at all (no publish lists).
    public var publishesFreely: Bool { publish == nil }

    /// True when subscribing to `subject` (a filter), in `queue` when one is given, is allowed.
    public func allowsSubscribe(_ subject: String, queue: String? = nil) -> Bool {
        guard let subscribe else { return true }
        var allowed = true
        if let allow = subscribe.allow {
            let plain = allow.filter { $0.queue == nil && Self.entry($0.subject, reaches: subject) }
            let queued = allow.filter { $0.queue != nil && Self.entry($0.subject, reaches: subject) }
            allowed = !plain.isEmpty
            if let queue, !queued.isEmpty { allowed = Self.queue(queue, matchesAnyOf: queued) }
        }
        if allowed, !subscribe.deny.isEmpty {
            let plain = subscribe.deny.filter { $0.queue == nil && Self.entry($0.subject, reaches: subject) }
            let queued = subscribe.deny.filter { $0.queue != nil && Self.entry($0.subject, reaches: subject) }
            allowed = plain.isEmpty
            if let queue, !queued.isEmpty { allowed = !Self.queue(queue, matchesAnyOf: queued) }
        }
        return allowed
    }

    /// True when an allowed wildcard subscription to `subject` needs its messages filtered by the
    /// subscribe deny list (some deny entry falls within it).
    public func needsDeliveryFilter(forSubscription subject: String) -> Bool {
        guard let deny = subscribe?.deny, !deny.isEmpty, Subject.hasWildcard(subject) else { return false }
        return deny.contains { $0.queue == nil && Subject.isSubset($0.subject, of: subject) }
    }

    /// True when a message on `subject` must not be delivered to this user's wildcard subscriptions.
    public func deniesDelivery(of subject: String) -> Bool {
        guard let deny = subscribe?.deny else { return false }
        return deny.contains { $0.queue == nil && Subject.matches(subject, filter: $0.subject) }
    }

    /// True when permission `entry` (a filter) matches `subject` taken token by token, wildcards in
    /// `subject` standing for themselves (nats-server's sublist match of a subscription subject).
    static func entry(_ entry: String, reaches subject: String) -> Bool {
        Subject.matches(subject, filter: entry)
    }

    static func queue(_ queue: String, matchesAnyOf entries: [PermissionEntry]) -> Bool {
        entries.contains { entry in
            guard let pattern = entry.queue else { return false }
            return pattern == queue || (Subject.hasWildcard(pattern) && Subject.isSubset(queue, of: pattern))
        }
    }
}

/// One side's lists: `allow` (nil: everything) and `deny`.
public struct SubjectPermission: Sendable, Equatable {
    public var allow: [PermissionEntry]?
    public var deny: [PermissionEntry]

    public init(allow: [PermissionEntry]? = nil, deny: [PermissionEntry] = []) {
        self.allow = allow
        self.deny = deny
    }
}

/// One permission entry: a subject filter, and for subscriptions an optional queue group (`"foo v1"`).
public struct PermissionEntry: Sendable, Equatable, CustomStringConvertible {
    public var subject: String
    public var queue: String?

    /// Reads the config form: a subject, optionally followed by a space and a queue group.
    public init(_ text: String) {
        let parts = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        subject = parts.first.map(String.init) ?? ""
        queue = parts.count > 1 ? String(parts[1]).trimmingSpaces() : nil
    }

    public var description: String { queue.map { "\(subject) \($0)" } ?? subject }
}

/// `allow_responses`: how many replies (`max`, default 1; negative: any number) may be sent to a received
/// request's reply subject, and for how long (`expires`, default 2 minutes; negative: no limit).
public struct ResponsePermission: Sendable, Equatable {
    public var maxMessages: Int
    /// Seconds.
    public var expires: Double

    public static let defaultMaxMessages = 1
    public static let defaultExpires: Double = 120

    public init(maxMessages: Int = ResponsePermission.defaultMaxMessages, expires: Double = ResponsePermission.defaultExpires) {
        self.maxMessages = maxMessages
        self.expires = expires
    }
}

extension String {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
