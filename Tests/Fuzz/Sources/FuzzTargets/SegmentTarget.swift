@testable import StreamStore
import Zstd

/// A segment file's bytes as recovery and `strata verify` meet them: the 32-byte header, then frames. When the
/// input's last byte is odd, the header's and each frame's CRC are first set right, so that the fuzzer gets past
/// the checksums to the frame fields, zstd and the records (a bit flip on disk meets the CRC; a bug in the
/// writer would not). Invariants: decoding fails with a format error, never a crash; a frame that decodes holds
/// the records its header declares, and those records encoded again (plain and compressed) decode to
/// themselves.
enum SegmentTarget {
    static let compressor = Compressor()
    static let decompressor = Decompressor()

    static func run(_ input: [UInt8]) {
        var bytes = input
        let fixCRCs = (input.last ?? 0) & 1 == 1
        if fixCRCs, bytes.count >= SegmentHeader.size {
            let crc = CRC32C.checksum(Array(bytes[0..<28]))
            bytes.replaceSubrange(28..<32, with: littleEndian(crc))
        }
        guard bytes.count >= SegmentHeader.size, (try? SegmentHeader.decode(bytes)) != nil else { return }
        var offset = SegmentHeader.size
        while offset + FrameHeader.size <= bytes.count {
            guard let header = try? FrameHeader.decode(Array(bytes[offset..<offset + FrameHeader.size])) else { return }
            let end = offset + header.frameLength
            guard end <= bytes.count else { return }
            if fixCRCs {
                let crc = CRC32C.checksum(Array(bytes[(offset + FrameHeader.size)..<end]), extending: CRC32C.checksum(Array(bytes[offset..<offset + 28])))
                bytes.replaceSubrange((offset + 28)..<(offset + 32), with: littleEndian(crc))
            }
            guard let (decoded, records) = try? Frame.decode(Array(bytes[offset..<end]), decompressor: decompressor) else { return }
            FuzzCheck.require(records.count == Int(decoded.recordCount), "frame at \(offset) declares \(decoded.recordCount) records, holds \(records.count)")
            RecordsTarget.checkRoundTrip(records)
            offset = end
        }
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}
