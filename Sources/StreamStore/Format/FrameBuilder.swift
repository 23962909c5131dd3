import Zstd

/// Turns a stream of records into consecutive frames of about `frameBytes` raw bytes each, encoding each
/// frame as soon as it is full so that the position of the next record (frame offset, record index) is
/// always known. The frames of one batch are written with one `pwrite` (Specs/WritePath.md).
struct FrameBuilder {
    let baseOffset: Int64
    let frameBytes: Int
    let compressor: Compressor?
    /// The stream's dictionary, when it has one (compressed frames name it).
    let dictionary: (id: UInt32, dictionary: Dictionary)?
    /// When set, a copy of each frame's record area is kept here (samples to train a dictionary from).
    var samples: [[UInt8]]?
    /// Encoded frames so far, back to back.
    private(set) var encoded: [UInt8] = []
    private var area: [UInt8] = []
    private var count = 0
    /// Offset and CRC of the last frame encoded.
    private(set) var lastFrame: (offset: Int64, crc: UInt32)?

    init(baseOffset: Int64, frameBytes: Int, compressor: Compressor?, dictionary: (id: UInt32, dictionary: Dictionary)? = nil) {
        self.baseOffset = baseOffset
        self.frameBytes = frameBytes
        self.compressor = compressor
        self.dictionary = dictionary
        area.reserveCapacity(frameBytes + 1024)
    }

    /// Where the next record will be: its frame's offset in the segment and its index in that frame.
    var position: (frameOffset: Int64, recordIndex: Int) { (baseOffset + Int64(encoded.count), count) }

    var isEmpty: Bool { encoded.isEmpty && count == 0 }

    /// Appends a record through `encode`, then closes the frame if it is full.
    mutating func append(_ encode: (inout [UInt8]) -> Void) throws {
        encode(&area)
        count += 1
        if area.count >= frameBytes || count >= FrameHeader.maxRecords { try closeFrame() }
    }

    /// Encodes the open frame, if it has records.
    mutating func closeFrame() throws {
        guard count > 0 else { return }
        let frame = try Frame.encode(recordArea: area, recordCount: count, compressor: compressor, dictionary: dictionary)
        samples?.append(area)
        let offset = baseOffset + Int64(encoded.count)
        lastFrame = (offset, frame.withUnsafeBytes { $0.loadLE(UInt32.self, at: 28) })
        encoded.append(contentsOf: frame)
        area.removeAll(keepingCapacity: true)
        count = 0
    }
}
