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
    /// Encoded in JSON as `"always"`, `"none"` or `"interval:<ms>ms"`.
    public enum SyncPolicy: Codable, Equatable, Sendable, CustomStringConvertible {
        /// Every batch is synced (fdatasync) before its appends return. The default.
        case always
        /// Batches are synced at most this many milliseconds apart; an append may return before it is on disk.
        case interval(milliseconds: Int)
        /// The store never syncs; the operating system writes back when it likes.
        case none

        public var description: String {
            switch self {
            case .always: "always"
            case .none: "none"
            case .interval(let ms): "interval:\(ms)ms"
            }
        }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            switch text {
            case "always": self = .always
            case "none": self = .none
            default:
                guard text.hasPrefix("interval:"), text.hasSuffix("ms"), let ms = Int(text.dropFirst(9).dropLast(2)) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "sync policy '\(text)' is not always, none or interval:<n>ms"))
                }
                self = .interval(milliseconds: ms)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(description)
        }
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
    /// Raw (uncompressed) bytes at which a frame is closed: a batch of appends is written as frames of
    /// about this size. Smaller frames make point reads cheaper, larger ones compress better
    /// (BENCHMARKS.md has the figures behind the default).
    public var frameBytes: Int = 16 << 10
    /// Size at which the active segment is sealed and a new one begun.
    public var segmentBytes: Int64 = 64 << 20
    /// The writer deletes sealed segments whose records are all removed, and rewrites mostly removed ones,
    /// while the stream runs (Specs/Retention.md, "Reclamation"). Off: only ``FileStream/compact(_:)``
    /// and `strata compact` reclaim space.
    public var reclaim: Bool = true

    public init(name: String) { self.name = name }

    private enum CodingKeys: String, CodingKey {
        case name, maxMessages, maxBytes, maxAge, maxMessagesPerSubject, maxMessageSize, discard, duplicateWindow
        case sync, compression, compressionLevel, frameBytes, segmentBytes, reclaim
    }

    /// Decodes a config; keys that are missing (a file written before the key existed) take their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name))
        maxMessages = try c.decodeIfPresent(UInt64.self, forKey: .maxMessages) ?? maxMessages
        maxBytes = try c.decodeIfPresent(UInt64.self, forKey: .maxBytes) ?? maxBytes
        maxAge = try c.decodeIfPresent(Int64.self, forKey: .maxAge) ?? maxAge
        maxMessagesPerSubject = try c.decodeIfPresent(UInt64.self, forKey: .maxMessagesPerSubject) ?? maxMessagesPerSubject
        maxMessageSize = try c.decodeIfPresent(UInt64.self, forKey: .maxMessageSize) ?? maxMessageSize
        discard = try c.decodeIfPresent(Discard.self, forKey: .discard) ?? discard
        duplicateWindow = try c.decodeIfPresent(Int64.self, forKey: .duplicateWindow) ?? duplicateWindow
        sync = try c.decodeIfPresent(SyncPolicy.self, forKey: .sync) ?? sync
        compression = try c.decodeIfPresent(Bool.self, forKey: .compression) ?? compression
        compressionLevel = try c.decodeIfPresent(Int32.self, forKey: .compressionLevel) ?? compressionLevel
        frameBytes = try c.decodeIfPresent(Int.self, forKey: .frameBytes) ?? frameBytes
        segmentBytes = try c.decodeIfPresent(Int64.self, forKey: .segmentBytes) ?? segmentBytes
        reclaim = try c.decodeIfPresent(Bool.self, forKey: .reclaim) ?? reclaim
    }

    /// Checks the config; the name must be usable as a directory name and as a NATS token.
    public func validate() throws {
        let forbidden: Set<Character> = [".", "*", ">", "/", "\\", " ", "\t", "\r", "\n", "\0"]
        if name.isEmpty || name.count > 255 || name.contains(where: { forbidden.contains($0) }) {
            throw StoreError.invalidConfig("stream name '\(name)' is empty, too long, or holds one of . * > / \\ or whitespace")
        }
        if maxAge < 0 { throw StoreError.invalidConfig("max age must not be negative") }
        if duplicateWindow < 0 { throw StoreError.invalidConfig("duplicate window must not be negative") }
        if frameBytes < 256 || frameBytes > 16 << 20 { throw StoreError.invalidConfig("frame size must be between 256 bytes and 16 MiB") }
        if segmentBytes < 4096 { throw StoreError.invalidConfig("segment size must be at least 4096 bytes") }
        if case .interval(let ms) = sync, ms <= 0 { throw StoreError.invalidConfig("sync interval must be positive") }
    }
}
