import Zstd

/// Walks a stream's segments frame by frame, reading each segment into memory once, and reports valid
/// frames and every region that is not one (with where scanning resumed). Read-only.
struct LogScanner {
    /// What the scan found at one place of a segment.
    enum Event {
        /// The segment's header is missing or damaged; nothing of the segment is read.
        case badHeader(reason: String, size: Int64)
        /// A valid frame at `offset`.
        case frame(offset: Int64, frame: DecodedFrame)
        /// Bytes that are not a valid frame, from `offset` for `length` bytes; `atEnd` when no valid frame
        /// follows them in the segment (a torn or damaged tail).
        case damage(offset: Int64, length: Int64, reason: String, atEnd: Bool)
    }

    let paths: StreamPaths
    let fileSystem: any FileSystem
    private let decompressor = Decompressor()
    private let dictionaries: FrameDictionaries

    init(paths: StreamPaths, fileSystem: any FileSystem) {
        self.paths = paths
        self.fileSystem = fileSystem
        self.dictionaries = FrameDictionaries(directory: paths.dictionaries, fileSystem: fileSystem)
    }

    /// Segment names (first sequences), in order.
    func segments() throws -> [UInt64] {
        try fileSystem.contentsOfDirectory(paths.segments).compactMap(SegmentHeader.firstSequence(fileName:)).sorted()
    }

    /// Total bytes of the segments (for progress).
    func totalBytes(_ segments: [UInt64]) throws -> Int64 {
        var total: Int64 = 0
        for segment in segments { total += try fileSystem.openForReading(paths.segment(segment)).size() }
        return total
    }

    /// Scans one segment, calling `body` for each event in file order.
    func scan(segment: UInt64, _ body: (Event) throws -> Void) throws {
        let handle = try fileSystem.openForReading(paths.segment(segment))
        let size = try handle.size()
        let bytes = try handle.read(count: Int(size), at: 0)
        let header: SegmentHeader
        do {
            header = try SegmentHeader.decode(bytes)
        } catch {
            try body(.badHeader(reason: bytes.count < SegmentHeader.size ? "segment is \(bytes.count) bytes, shorter than its header" : "\(error)", size: size))
            return
        }
        guard header.firstSequence == segment else {
            try body(.badHeader(reason: "header names sequence \(header.firstSequence), file name \(segment)", size: size))
            return
        }
        try bytes.withUnsafeBytes { raw in
            var offset = SegmentHeader.size
            while offset < raw.count {
                do {
                    let frame = try decode(raw, at: offset)
                    try body(.frame(offset: Int64(offset), frame: frame))
                    offset += frame.header.frameLength
                } catch let error as FormatError {
                    // Zeros to the end of the segment: preallocated space past the log, not damage.
                    if !raw[offset...].contains(where: { $0 != 0 }) { break }
                    let next = resynchronize(raw, after: offset)
                    let end = next ?? raw.count
                    try body(.damage(offset: Int64(offset), length: Int64(end - offset), reason: error.description, atEnd: next == nil))
                    offset = end
                }
            }
        }
    }

    private func decode(_ raw: UnsafeRawBufferPointer, at offset: Int) throws -> DecodedFrame {
        let header = try FrameHeader.decode(UnsafeRawBufferPointer(rebasing: raw[offset...]))
        let end = offset + header.frameLength
        guard end <= raw.count else { throw FormatError.truncated(needed: header.frameLength, available: raw.count - offset) }
        let area = try Frame.verify(header: header, headerBytes: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + FrameHeader.size)]),
                                    body: UnsafeRawBufferPointer(rebasing: raw[(offset + FrameHeader.size)..<end]), decompressor: decompressor,
                                    dictionaries: dictionaries)
        return try DecodedFrame(header: header, area: area)
    }

    /// The next offset after `offset` where a valid frame starts.
    private func resynchronize(_ raw: UnsafeRawBufferPointer, after offset: Int) -> Int? {
        var i = offset + 1
        while i + FrameHeader.size <= raw.count {
            if raw[i] == 0x53 && raw[i + 1] == 0x46 && raw[i + 2] == 0x52 && raw[i + 3] == 0x4D,
               (try? decode(raw, at: i)) != nil {
                return i
            }
            i += 1
        }
        return nil
    }
}
