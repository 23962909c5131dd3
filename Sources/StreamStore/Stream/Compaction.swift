/// How to compact (Specs/Recovery.md, "Compaction").
public struct CompactionOptions: Sendable, Equatable {
    /// zstd level of the rewritten frames.
    public var level: Int32 = 3
    /// Raw bytes per rewritten frame: small frames written by single appends are repacked into large
    /// ones, which compress several times better.
    public var frameBytes: Int = 64 << 10
    /// Rewrite every sealed segment, not only those with removed records or small frames.
    public var rewriteAll = false
    /// After a failed rename, put the old locations back (false only in tests: it leaves the state of a
    /// process that died between the index commit and the rename, for recovery to complete).
    var rollBackFailedSwap = true

    public init(level: Int32 = 3, frameBytes: Int = 64 << 10, rewriteAll: Bool = false) {
        self.level = level
        self.frameBytes = frameBytes
        self.rewriteAll = rewriteAll
    }
}

/// What a compaction did.
public struct CompactionReport: Sendable, Equatable {
    public var segmentsRewritten = 0
    public var segmentsRemoved = 0
    public var recordsDropped = 0
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0
}
