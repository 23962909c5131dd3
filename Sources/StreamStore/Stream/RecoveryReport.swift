/// What opening a stream found and did (Specs/Recovery.md). Nothing is lost silently: every byte range
/// that could not be read is listed here, with the sequences it cost when they are known.
public struct RecoveryReport: Sendable, Equatable, CustomStringConvertible {
    /// A region of a segment that could not be read.
    public struct DamagedRegion: Sendable, Equatable {
        public var file: String
        public var offset: Int64
        public var length: Int64
        /// The sequences whose records were in the region, when they can be told.
        public var lostSequences: ClosedRange<UInt64>?
        public var reason: String
    }

    /// Why the index was rebuilt from the log, or nil when it was reused.
    public var indexRebuiltBecause: String?
    /// Frames read from the log and indexed during open.
    public var framesIndexed = 0
    /// Message records indexed during open.
    public var messagesIndexed = 0
    /// A torn tail cut off the active segment: file, offset and bytes cut.
    public var truncatedTail: (file: String, offset: Int64, bytes: Int64)?
    /// Regions that could not be read; their records are lost, every other record is kept.
    public var damagedRegions: [DamagedRegion] = []
    /// An interrupted compaction that was completed or rolled back.
    public var compactionResolved: String?

    public init() {}

    /// True when open found nothing to mend.
    public var isClean: Bool {
        indexRebuiltBecause == nil && truncatedTail == nil && damagedRegions.isEmpty && compactionResolved == nil
    }

    public static func == (a: RecoveryReport, b: RecoveryReport) -> Bool {
        a.indexRebuiltBecause == b.indexRebuiltBecause && a.framesIndexed == b.framesIndexed
            && a.messagesIndexed == b.messagesIndexed && a.damagedRegions == b.damagedRegions
            && a.truncatedTail?.file == b.truncatedTail?.file && a.truncatedTail?.offset == b.truncatedTail?.offset
            && a.truncatedTail?.bytes == b.truncatedTail?.bytes
    }

    public var description: String {
        var lines: [String] = []
        if let why = indexRebuiltBecause { lines.append("index rebuilt: \(why)") }
        lines.append("indexed \(messagesIndexed) messages in \(framesIndexed) frames from the log")
        if let tail = truncatedTail { lines.append("cut torn tail of \(tail.file) at offset \(tail.offset) (\(tail.bytes) bytes)") }
        for region in damagedRegions {
            let lost = region.lostSequences.map { "sequences \($0.lowerBound)...\($0.upperBound) lost" } ?? "sequences unknown"
            lines.append("damaged \(region.file) at \(region.offset) (\(region.length) bytes, \(lost)): \(region.reason)")
        }
        if let compaction = compactionResolved { lines.append(compaction) }
        return lines.joined(separator: "\n")
    }
}
