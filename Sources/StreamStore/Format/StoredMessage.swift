/// A message as the store keeps it: what was appended plus the sequence and time it was given.
/// A message read from a file stream shares its headers' and payload's bytes with the decoded frame it was read
/// from (no copy per message); the frame's record area lives as long as any message read from it.
public struct StoredMessage: Equatable, Sendable {
    public var sequence: UInt64
    /// Nanoseconds since the Unix epoch.
    public var timestamp: Int64
    public var subject: String
    /// The NATS header block (`NATS/1.0\r\n…\r\n\r\n`), empty when the message has none.
    public var headers: ArraySlice<UInt8>
    public var payload: ArraySlice<UInt8>
    /// The publisher's message id (`Nats-Msg-Id`), used for de-duplication; nil when none.
    public var messageID: String?

    public init(sequence: UInt64, timestamp: Int64, subject: String, headers: [UInt8] = [],
                payload: [UInt8], messageID: String? = nil) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.subject = subject
        self.headers = headers[...]
        self.payload = payload[...]
        self.messageID = messageID
    }

    /// A message whose headers and payload are slices of a larger buffer (a decoded frame's record area).
    public init(sequence: UInt64, timestamp: Int64, subject: String, headers: ArraySlice<UInt8>,
                payload: ArraySlice<UInt8>, messageID: String?) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.subject = subject
        self.headers = headers
        self.payload = payload
        self.messageID = messageID
    }

    /// This message with headers and payload in arrays of their own, so that holding it does not hold the
    /// buffer they were read from.
    public func detached() -> StoredMessage {
        StoredMessage(sequence: sequence, timestamp: timestamp, subject: subject, headers: ArraySlice(Array(headers)),
                      payload: ArraySlice(Array(payload)), messageID: messageID)
    }

    /// The bytes the message counts for in a memory stream's `max_bytes` and state (Specs/Retention.md).
    public var memoryAccountedSize: UInt64 {
        StoredMessage.memoryAccountedSize(subject: subject.utf8.count, headers: headers.count, payload: payload.count)
    }

    /// A memory stream's size of a message, nats-server's: subject, headers and payload, plus 16.
    public static func memoryAccountedSize(subject: Int, headers: Int, payload: Int) -> UInt64 {
        UInt64(subject + headers + payload + 16)
    }

    /// A file stream's size of a message, nats-server's (its record's length: 22 bytes of framing, the
    /// subject, the payload and an 8-byte hash; with headers, 4 more and the headers), so that `max_bytes`
    /// cuts a stream at the same message as the reference does.
    public static func fileAccountedSize(subject: Int, headers: Int, payload: Int) -> UInt64 {
        headers == 0 ? UInt64(30 + subject + payload) : UInt64(34 + subject + headers + payload)
    }
}
