/// The replies a user with `allow_responses` may send: every request delivered to it opens its reply
/// subject for ``ResponsePermission/maxMessages`` publishes within ``ResponsePermission/expires`` seconds
/// (nats-server's `replies` map). Pure: the caller passes the time and owns the value.
public struct ResponseAllowance: Sendable {
    public let permission: ResponsePermission
    private var open: [String: (since: Double, sent: Int)] = [:]
    /// nats-server prunes its map past this many entries; so does this.
    static let limit = 1024

    public init(_ permission: ResponsePermission) { self.permission = permission }

    /// A message with reply subject `reply` was delivered to the user at `now` (seconds).
    public mutating func delivered(reply: String, now: Double) {
        open[reply] = (now, 0)
        if open.count > Self.limit { prune(now: now) }
    }

    /// True when a publish to `subject` at `now` is a permitted reply; counts it.
    public mutating func allowsReply(to subject: String, now: Double) -> Bool {
        guard var entry = open[subject] else { return false }
        entry.sent += 1
        if permission.maxMessages > 0 && entry.sent > permission.maxMessages { open[subject] = nil; return false }
        if permission.expires > 0 && now - entry.since > permission.expires { open[subject] = nil; return false }
        open[subject] = entry
        return true
    }

    public var count: Int { open.count }

    private mutating func prune(now: Double) {
        open = open.filter { _, entry in
            (permission.maxMessages <= 0 || entry.sent < permission.maxMessages)
                && (permission.expires <= 0 || now - entry.since <= permission.expires)
        }
    }
}
