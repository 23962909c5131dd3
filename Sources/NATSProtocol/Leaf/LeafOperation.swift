import NIOCore

/// One operation of the leaf-node protocol (nats-server's `server/leafnode.go`), as either side sends it:
/// a leaf (spoke) and its hub exchange the same verbs once the leaf's CONNECT is accepted.
public enum LeafOperation: Equatable, Sendable {
    /// `INFO {json}`: the hub's first INFO (with `leafnode_urls`, `nonce`, `info_on_connect`), its answer
    /// to CONNECT (`connect_info: true`), and later updates of its cluster's URLs.
    case info(String)
    /// `CONNECT {json}` (the leaf's, hub side only): the raw JSON.
    case connect(ByteBuffer)
    /// `LS+ subject [queue weight]`: the sender has interest (a queue group with `weight` members).
    case subscribe(LeafInterestKey, weight: Int)
    /// `LS- subject [queue]`: the sender's interest is gone.
    case unsubscribe(LeafInterestKey)
    /// `LMSG` / `HMSG`: a message for the receiver's subscribers.
    case message(LeafMessage)
    case ping
    case pong
    case ok
    /// `-ERR 'text'`, quotes removed.
    case error(String)
}

/// What an interest line names: a subject (a filter, wildcards allowed), and a queue group or none.
/// The wire form is `subject` or `subject queue`, the key nats-server counts interest under.
public struct LeafInterestKey: Hashable, Sendable, CustomStringConvertible {
    public var subject: String
    public var queue: String?

    public init(subject: String, queue: String? = nil) {
        self.subject = subject
        self.queue = queue
    }

    public var description: String { queue.map { subject + " " + $0 } ?? subject }
}

/// A message crossing a leaf connection. `queues` names the queue groups it is for on the receiving
/// side: empty, it goes to plain subscriptions only; otherwise to plain subscriptions and one member of
/// each named group (as nats-server's `processMsgResults` does with a route's queue filter).
public struct LeafMessage: Equatable, Sendable {
    public var subject: String
    public var reply: String?
    public var queues: [String]
    /// The header block (`NATS/1.0\r\n…\r\n\r\n`), nil for `LMSG`.
    public var headers: ByteBuffer?
    public var payload: ByteBuffer

    public init(subject: String, reply: String?, queues: [String] = [], headers: ByteBuffer?, payload: ByteBuffer) {
        self.subject = subject
        self.reply = reply
        self.queues = queues
        self.headers = headers
        self.payload = payload
    }

    /// The message as a publish (routing takes the queue filter separately).
    public var publish: Publish { Publish(subject: subject, reply: reply, headers: headers, payload: payload) }
}
