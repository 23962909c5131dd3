import LMDB
import Platform

/// Where a message's record lies, and what the index needs without reading it (Specs/IndexSchema.md,
/// "Location"). Held in sequence blocks (``SequenceBlock``); ``encoded()`` and ``init(_:)`` are format 4's
/// value of `seq` (LEB128 varints for segment, frame offset, record index, accounted size and subject id, and
/// the timestamp as 8 bytes little-endian), read once to convert such an index.
struct MessageLocation: Equatable, Sendable {
    var segment: UInt64
    var frameOffset: UInt64
    var recordIndex: UInt32
    var accountedSize: UInt32
    var timestamp: Int64
    var subjectID: UInt64

    func encoded() -> InlineBytes {
        var bytes = InlineBytes()
        bytes.appendVarint(segment)
        bytes.appendVarint(frameOffset)
        bytes.appendVarint(UInt64(recordIndex))
        bytes.appendVarint(UInt64(accountedSize))
        bytes.appendLittleEndian(timestamp)
        bytes.appendVarint(subjectID)
        return bytes
    }

    init(segment: UInt64, frameOffset: UInt64, recordIndex: UInt32, accountedSize: UInt32, timestamp: Int64, subjectID: UInt64) {
        self.segment = segment
        self.frameOffset = frameOffset
        self.recordIndex = recordIndex
        self.accountedSize = accountedSize
        self.timestamp = timestamp
        self.subjectID = subjectID
    }

    /// Decodes a stored location; nil unless the bytes are exactly one well-formed location.
    init?(_ raw: UnsafeRawBufferPointer) {
        var offset = 0
        func varint() -> UInt64? { raw.readLEB128(at: &offset) }
        guard let segment = varint(), let frameOffset = varint(), let recordIndex = varint(), let size = varint(),
              recordIndex <= UInt32.max, size <= UInt32.max, offset + 8 <= raw.count else { return nil }
        let timestamp = raw.loadLE(Int64.self, at: offset)
        offset += 8
        guard let subjectID = varint(), offset == raw.count else { return nil }
        self.init(segment: segment, frameOffset: frameOffset, recordIndex: UInt32(recordIndex), accountedSize: UInt32(size),
                  timestamp: timestamp, subjectID: subjectID)
    }
}

/// How far the log has been indexed (Specs/IndexSchema.md, `meta/marker`).
struct IndexMarker: Equatable, Sendable {
    var segment: UInt64
    /// Offset of the last indexed frame (the header size when the segment has none).
    var lastFrameOffset: UInt64
    /// Offset just past the last indexed frame.
    var endOffset: UInt64
    /// CRC field of the last indexed frame (0 when none).
    var lastFrameCRC: UInt32
    /// Where the frames of this segment not known to be durable when the marker was stored begin
    /// (`endOffset`: none). Frames of pipelined batches are indexed before their sync returns
    /// (Specs/WritePath.md, "Pipelined sync"); recovery checks every frame from here to `endOffset`.
    var unsyncedFrom: UInt64

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLE(segment)
        bytes.appendLE(lastFrameOffset)
        bytes.appendLE(endOffset)
        bytes.appendLE(lastFrameCRC)
        bytes.appendLE(unsyncedFrom)
        return bytes
    }

    init(segment: UInt64, lastFrameOffset: UInt64, endOffset: UInt64, lastFrameCRC: UInt32, unsyncedFrom: UInt64? = nil) {
        self.segment = segment
        self.lastFrameOffset = lastFrameOffset
        self.endOffset = endOffset
        self.lastFrameCRC = lastFrameCRC
        self.unsyncedFrom = min(unsyncedFrom ?? endOffset, endOffset)
    }

    /// Decodes a marker of 36 bytes, or one of 28 (index format 3, before pipelined syncs: nothing unsynced).
    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == 28 || raw.count == 36 else { return nil }
        segment = raw.loadLE(UInt64.self, at: 0)
        lastFrameOffset = raw.loadLE(UInt64.self, at: 8)
        endOffset = raw.loadLE(UInt64.self, at: 16)
        lastFrameCRC = raw.loadLE(UInt32.self, at: 24)
        unsyncedFrom = raw.count == 36 ? min(raw.loadLE(UInt64.self, at: 28), endOffset) : endOffset
    }
}
