/// A consumer's durable state: what a restart needs to resume exactly (at least once; nothing
/// acknowledged is redelivered as new, nothing unacknowledged is lost). Persisted by the stream's store.
public struct ConsumerState: Codable, Equatable, Sendable {
    /// A pair of sequences, as the API reports them.
    public struct SequencePair: Codable, Equatable, Sendable {
        public var consumerSeq: UInt64
        public var streamSeq: UInt64
        public init(consumerSeq: UInt64 = 0, streamSeq: UInt64 = 0) {
            self.consumerSeq = consumerSeq
            self.streamSeq = streamSeq
        }
        enum CodingKeys: String, CodingKey { case consumerSeq = "consumer_seq", streamSeq = "stream_seq" }
    }

    /// A delivered, unacknowledged message.
    public struct Pending: Codable, Equatable, Sendable {
        /// Consumer sequence of its latest delivery.
        public var consumerSeq: UInt64
        /// When it was last delivered (ns).
        public var deliveredAt: Int64
        /// How many times it has been delivered.
        public var deliveries: Int
        /// When it is due for redelivery (ns): delivery time + ack wait/backoff, or a NAK's delay.
        public var deadline: Int64

        public init(consumerSeq: UInt64, deliveredAt: Int64, deliveries: Int, deadline: Int64) {
            self.consumerSeq = consumerSeq
            self.deliveredAt = deliveredAt
            self.deliveries = deliveries
            self.deadline = deadline
        }
    }

    /// Highest delivered: the consumer sequence of the last delivery and the highest stream sequence sent.
    public var delivered = SequencePair()
    /// Everything at or below is acknowledged.
    public var ackFloor = SequencePair()
    /// Unacknowledged deliveries by stream sequence, in sequence order.
    public var pending = PendingMessages()
    /// Stream sequences queued for redelivery (deadline passed, or NAKed), in order.
    public var redeliveryQueue: [UInt64] = []
    /// For `last_per_subject`: the last message of each subject at creation, still to deliver, in order,
    /// before new messages (nil when none).
    public var initialSequences: [UInt64]?

    public init() {}
}
