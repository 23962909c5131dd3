/// A pull request (`CONSUMER.MSG.NEXT` body): `{"batch","expires"(ns),"max_bytes","no_wait"}`.
public struct PullRequest: Equatable, Sendable {
    public var id: UInt64
    public var replyTo: String
    public var batch: Int
    public var expires: Int64?
    public var maxBytes: Int?
    public var noWait: Bool
    /// Send `100 Idle Heartbeat` to `replyTo` after this long (ns) without sending it anything.
    public var idleHeartbeat: Int64?
    public var receivedAt: Int64 = 0
    /// When the request was last sent something (a message or a heartbeat).
    public var lastSentAt: Int64 = 0
    public var delivered = 0
    public var deliveredBytes = 0

    public init(id: UInt64, replyTo: String, batch: Int = 1, expires: Int64? = nil, maxBytes: Int? = nil, noWait: Bool = false,
                idleHeartbeat: Int64? = nil) {
        self.id = id
        self.replyTo = replyTo
        self.batch = max(1, batch)
        self.expires = expires
        self.maxBytes = maxBytes
        self.noWait = noWait
        self.idleHeartbeat = idleHeartbeat.flatMap { $0 > 0 ? $0 : nil }
    }
}
