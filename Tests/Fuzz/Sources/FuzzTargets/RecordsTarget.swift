@testable import StreamStore

/// A frame's record area, straight to the record iterator (no header, no CRC): the input is what a frame
/// whose checksum matched but whose writer was wrong would hold. Invariants: the iterator either fails or
/// yields records, and those records encoded again decode to themselves, plain and zstd-compressed.
enum RecordsTarget {
    static func run(_ input: [UInt8]) {
        guard let records = try? RecordIterator.decodeAll(input) else { return }
        checkRoundTrip(records)
    }

    /// Encodes `records` as a frame (plain, then compressed) and checks that both decode to them.
    static func checkRoundTrip(_ records: [Record]) {
        guard !records.isEmpty, records.count <= FrameHeader.maxRecords else { return }
        var area: [UInt8] = []
        for record in records { record.encode(to: &area) }
        guard let again = try? RecordIterator.decodeAll(area) else {
            FuzzCheck.require(false, "re-encoded records do not decode")
            return
        }
        FuzzCheck.require(again == records, "records change through their own encoding")
        for compressor in [nil, SegmentTarget.compressor] {
            guard let frame = try? Frame.encode(recordArea: area, recordCount: records.count, compressor: compressor),
                  let (_, decoded) = try? Frame.decode(frame, decompressor: SegmentTarget.decompressor) else {
                FuzzCheck.require(false, "a frame of decodable records does not decode (compressed: \(compressor != nil))")
                return
            }
            FuzzCheck.require(decoded == records, "a frame changes its records (compressed: \(compressor != nil))")
        }
    }
}
