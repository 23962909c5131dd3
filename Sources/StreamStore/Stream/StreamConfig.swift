/// The storage-level configuration of a stream: its limits, how it syncs, how it compresses.
/// Stored as `stream.json` in the stream directory (Specs/StoreLayout.md). A limit of 0 means unlimited.
public struct StreamConfig: Codable, Equatable, Sendable {
    /// What an append does when a message or byte limit is reached (Specs/Retention.md).
    public enum Discard: String, Codable, Sendable {
        /// Drop the oldest messages to make room.
        case old
        /// Reject the append with ``StoreError/limitReached(_:)``.
        case new
    }

    /// When an append is durable, relative to its acknowledgement (Specs/WritePath.md).
    public enum SyncPolicy: Codable, Equatable, Sendable {
        /// Every batch is synced (fdatasync) before its appends return. The default.
        case always
        /// Batches are synced at most this many milliseconds apart; an append may return before it is on disk.
        case interval(milliseconds: Int)
        /// The store never syncs; the operating system writes back when it likes.
        case none
    }

    public var name: String
    public var maxMessages: UInt64 = 0
    public var maxBytes: UInt64 = 0
    /// Nanoseconds; 0 = forever.
    public var maxAge: Int64 = 0
    public var maxMessagesPerSubject: UInt64 = 0
    /// Largest accounted size of one message (Specs/Retention.md); 0 = unlimited.
    public var maxMessageSize: UInt64 = 0
    public var discard: Discard = .old
    /// Nanoseconds within which a repeated message id is a duplicate; 0 = no de-duplication.
    public var duplicateWindow: Int64 = 120_000_000_000
    public var sync: SyncPolicy = .always
    /// Compress frames with zstd.
    public var compression: Bool = true
    /// zstd level for frames written by appends.
    public var compressionLevel: Int32 = 1
    /// Size at which the active segment is sealed and a new one begun.
    public var segmentBytes: Int64 = 64 << 20

    public init(name: String) { self.name = name }

    /// Checks the config; the name must be usable as a directory name and as a NATS token.
    public func validate() throws {
        let forbidden: Set<Character> = [".", "*", ">", "/", "\\", " ", "\t", "\r", "\n", "\0"]
        if name.isEmpty || name.count > 255 || name.contains(where: { forbidden.contains($0) }) {
            throw StoreError.invalidConfig("stream name '\(name)' is empty, too long, or holds one of . * > / \\ or whitespace")
        }
        if maxAge < 0 { throw StoreError.invalidConfig("max age must not be negative") }
        if duplicateWindow < 0 { throw StoreError.invalidConfig("duplicate window must not be negative") }
        if segmentBytes < 4096 { throw StoreError.invalidConfig("segment size must be at least 4096 bytes") }
        if case .interval(let ms) = sync, ms <= 0 { throw StoreError.invalidConfig("sync interval must be positive") }
    }
}
