/// One delivery for the owner to send.
public struct Delivery: Equatable, Sendable {
    public var to: String
    public var streamSequence: UInt64
    public var consumerSequence: UInt64
    /// How many times this message has now been delivered (1 = first time).
    public var deliveries: Int
    public var subject: String
    public var timestamp: Int64
    /// `last_per_subject` messages still to deliver after this one (they count as pending for clients).
    public var remainingInitial: Int = 0
    public var isRedelivery: Bool { deliveries > 1 }
}

/// What the owner of a consumer must do.
public enum ConsumerAction: Equatable, Sendable {
    /// Send the stream message to `to`, with an ack reply subject built from the delivery.
    case deliver(Delivery)
    /// Send a status message (`HMSG` with `NATS/1.0 <code> <description>` and no payload).
    case status(to: String, code: Int, description: String)
    /// A pull request expired before it was complete: `408 Request Timeout`, with what it still wanted
    /// (`Nats-Pending-Messages`, `Nats-Pending-Bytes`).
    case requestExpired(to: String, pendingMessages: Int, pendingBytes: Int)
    /// `100 Idle Heartbeat` to a waiting pull request (with `Nats-Last-Consumer`, `Nats-Last-Stream`).
    case idleHeartbeat(to: String)
    /// Publish `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`; the message will not be
    /// delivered again.
    case maxDeliveriesReached(streamSequence: UInt64, deliveries: Int)
    /// `sample_freq` picked this explicit ack: publish `$JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>` with
    /// the message's sequences, its deliveries, and the time from its last delivery to the ack (ns).
    case ackSampled(streamSequence: UInt64, consumerSequence: UInt64, deliveries: Int, ackTime: Int64)
    /// These messages are done with for this consumer (acknowledged or terminated): the owner applies the
    /// stream's retention (work queue, interest).
    case acknowledged(streamSequences: [UInt64])
    /// ``ConsumerEngine/state`` changed: persist it.
    case persist
}
