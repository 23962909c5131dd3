/// A message as the store keeps it: what was appended plus the sequence and time it was given.
public struct StoredMessage: Equatable, Sendable {
    public var sequence: UInt64
    /// Nanoseconds since the Unix epoch.
    public var timestamp: Int64
    public var subject: String
    /// The NATS header block (`NATS/1.0\r\n…\r\n\r\n`), empty when the message has none.
    public var headers: [UInt8]
    public var payload: [UInt8]
    /// The publisher's message id (`Nats-Msg-Id`), used for de-duplication; nil when none.
    public var messageID: String?

    public init(sequence: UInt64, timestamp: Int64, subject: String, headers: [UInt8] = [],
                payload: [UInt8], messageID: String? = nil) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.subject = subject
        self.headers = headers
        self.payload = payload
        self.messageID = messageID
    }

    /// The bytes the message counts for in `max_bytes` and stream state (Specs/Retention.md).
    public var accountedSize: UInt64 { StoredMessage.accountedSize(subject: subject.utf8.count, headers: headers.count, payload: payload.count) }

    public static func accountedSize(subject: Int, headers: Int, payload: Int) -> UInt64 {
        UInt64(subject + headers + payload + 16)
    }
}
