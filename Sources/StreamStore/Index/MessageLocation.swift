import LMDB

/// Where a message's record lies, and what the index needs without reading it
/// (Specs/IndexSchema.md, "Location").
struct MessageLocation: Equatable, Sendable {
    static let size = 40

    var segment: UInt64
    var frameOffset: UInt64
    var recordIndex: UInt32
    var accountedSize: UInt32
    var timestamp: Int64
    var subjectID: UInt64

    func encoded() -> InlineBytes {
        var bytes = InlineBytes()
        bytes.appendLittleEndian(segment)
        bytes.appendLittleEndian(frameOffset)
        bytes.appendLittleEndian(recordIndex)
        bytes.appendLittleEndian(accountedSize)
        bytes.appendLittleEndian(timestamp)
        bytes.appendLittleEndian(subjectID)
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

    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == MessageLocation.size else { return nil }
        segment = raw.loadLE(UInt64.self, at: 0)
        frameOffset = raw.loadLE(UInt64.self, at: 8)
        recordIndex = raw.loadLE(UInt32.self, at: 16)
        accountedSize = raw.loadLE(UInt32.self, at: 20)
        timestamp = raw.loadLE(Int64.self, at: 24)
        subjectID = raw.loadLE(UInt64.self, at: 32)
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

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLE(segment)
        bytes.appendLE(lastFrameOffset)
        bytes.appendLE(endOffset)
        bytes.appendLE(lastFrameCRC)
        return bytes
    }

    init(segment: UInt64, lastFrameOffset: UInt64, endOffset: UInt64, lastFrameCRC: UInt32) {
        self.segment = segment
        self.lastFrameOffset = lastFrameOffset
        self.endOffset = endOffset
        self.lastFrameCRC = lastFrameCRC
    }

    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == 28 else { return nil }
        segment = raw.loadLE(UInt64.self, at: 0)
        lastFrameOffset = raw.loadLE(UInt64.self, at: 8)
        endOffset = raw.loadLE(UInt64.self, at: 16)
        lastFrameCRC = raw.loadLE(UInt32.self, at: 24)
    }
}
