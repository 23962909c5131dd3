/// A stream's counters, as of the last committed batch.
///
/// When the stream holds no message, `firstSequence == lastSequence + 1` (as in nats-server), so that
/// sequences continue after purges.
public struct StreamState: Equatable, Sendable, Codable {
    public var messages: UInt64 = 0
    /// Sum of the accounted sizes of the messages held (Specs/Retention.md).
    public var bytes: UInt64 = 0
    public var firstSequence: UInt64 = 1
    public var lastSequence: UInt64 = 0
    /// Timestamp (ns since the epoch) of the first message held, 0 when empty.
    public var firstTimestamp: Int64 = 0
    /// Timestamp of the last message ever appended, 0 before the first.
    public var lastTimestamp: Int64 = 0
    /// Number of distinct subjects held.
    public var subjects: UInt64 = 0

    public init() {}

    /// Sequences between first and last that are not held (interior deletes).
    public var deleted: UInt64 {
        lastSequence >= firstSequence ? (lastSequence - firstSequence + 1) - messages : 0
    }
}

/// What an append returned.
public struct AppendResult: Equatable, Sendable {
    public var sequence: UInt64
    /// Nanoseconds since the epoch.
    public var timestamp: Int64
    /// True when the message id was seen within the duplicate window: nothing was stored, and
    /// `sequence` is the original message's.
    public var duplicate: Bool
}

/// One message to append.
public struct AppendRequest: Sendable {
    public var subject: String
    public var headers: [UInt8]
    public var payload: [UInt8]
    public var messageID: String?
    /// Conditions checked atomically with the append (JetStream's `Nats-Expected-*` headers).
    public var expectations = AppendExpectations()
    /// Remove earlier messages once this one is stored (JetStream's `Nats-Rollup`).
    public var rollup: Rollup?
    /// Store the message at this sequence instead of the next one (a mirror keeps its origin's sequences).
    /// It must be above the stream's last sequence (else `wrongLastSequence`); the sequences in between are
    /// held by no message and count as deleted, as removed ones do (Specs/WritePath.md, "Appends at a
    /// given sequence").
    public var sequence: UInt64?
    /// Store the message with this timestamp (nanoseconds since the epoch; a mirror keeps its origin's)
    /// instead of the writer's clock.
    public var timestamp: Int64?

    public init(subject: String, headers: [UInt8] = [], payload: [UInt8], messageID: String? = nil) {
        self.subject = subject
        self.headers = headers
        self.payload = payload
        self.messageID = messageID
    }
}

/// Conditions an append must meet, checked in the same transaction as the append.
public struct AppendExpectations: Sendable, Equatable {
    /// The stream's last sequence must be this.
    public var lastSequence: UInt64?
    /// The last sequence of the message's subject must be this (0 = the subject holds no message).
    public var lastSubjectSequence: UInt64?
    /// The message id of the stream's last message must be this ("" = none, or it had no id).
    public var lastMessageID: String?

    public init(lastSequence: UInt64? = nil, lastSubjectSequence: UInt64? = nil, lastMessageID: String? = nil) {
        self.lastSequence = lastSequence
        self.lastSubjectSequence = lastSubjectSequence
        self.lastMessageID = lastMessageID
    }
}

/// What a rollup removes once the message is stored.
public enum Rollup: Sendable, Equatable {
    /// Every earlier message on the same subject.
    case subject
    /// Every earlier message of the stream.
    case all
}

/// What to purge (Specs/Retention.md, "Purge").
public struct PurgeRequest: Sendable, Equatable {
    /// Only messages whose subject matches this filter; nil = all.
    public var filter: String?
    /// Remove only messages with a sequence lower than this one.
    public var belowSequence: UInt64?
    /// Keep this many of the newest matching messages.
    public var keep: UInt64?

    public init(filter: String? = nil, belowSequence: UInt64? = nil, keep: UInt64? = nil) {
        self.filter = filter
        self.belowSequence = belowSequence
        self.keep = keep
    }
}
