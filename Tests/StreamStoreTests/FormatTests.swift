import Foundation
import Testing
import Zstd
@testable import StreamStore

/// The codecs against Specs/SegmentFormat.md, through a golden segment written by an independent encoder
/// (Fixtures/make_golden.py).
@Suite struct FormatTests {
    static let t: Int64 = 1_700_000_000_000_000_000

    static func golden() throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: "golden-v1", withExtension: "seg", subdirectory: "Fixtures"))
        return Array(try Data(contentsOf: url))
    }

    static let expectedFrames: [[Record]] = [
        [.message(StoredMessage(sequence: 1, timestamp: t, subject: "orders.new", headers: Array("NATS/1.0\r\nA: b\r\n\r\n".utf8),
                                payload: Array("hello".utf8), messageID: "m-1")),
         .message(StoredMessage(sequence: 2, timestamp: t + 1000, subject: "orders.old", payload: Array("world".utf8)))],
        [.removal([1...1]),
         .message(StoredMessage(sequence: 3, timestamp: t + 2000, subject: "orders.new", payload: Array("again".utf8)))],
    ]

    @Test func crc32cKnownAnswer() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        let long = (0..<1000).map { UInt8($0 % 251) }
        #expect(CRC32C.checksum(Array(long[500...]), extending: CRC32C.checksum(Array(long[..<500]))) == CRC32C.checksum(long))
    }

    @Test func decodesGoldenSegment() throws {
        let bytes = try FormatTests.golden()
        #expect(try SegmentHeader.decode(Array(bytes[0..<32])) == SegmentHeader(firstSequence: 1))
        var offset = 32
        var frames: [[Record]] = []
        while offset < bytes.count {
            let (header, records) = try Frame.decode(Array(bytes[offset...]))
            #expect(header.codec == .none)
            frames.append(records)
            offset += header.frameLength
        }
        #expect(offset == bytes.count)
        #expect(frames == FormatTests.expectedFrames)
    }

    @Test func encoderMatchesGoldenBytes() throws {
        var bytes = SegmentHeader(firstSequence: 1).encoded()
        for records in FormatTests.expectedFrames {
            var area: [UInt8] = []
            for record in records { record.encode(to: &area) }
            bytes += try Frame.encode(recordArea: area, recordCount: records.count, compressor: nil)
        }
        #expect(bytes == (try FormatTests.golden()))
    }

    @Test func compressedFrameRoundTrips() throws {
        var area: [UInt8] = []
        for i in 0..<100 {
            Record.message(StoredMessage(sequence: UInt64(i + 1), timestamp: 5, subject: "s.\(i % 5)", payload: Array(repeating: UInt8(65 + i % 3), count: 200))).encode(to: &area)
        }
        let frame = try Frame.encode(recordArea: area, recordCount: 100, compressor: Compressor())
        let (header, records) = try Frame.decode(frame)
        #expect(header.codec == .zstd && header.storedLength < header.rawLength / 4)
        #expect(records.count == 100)
        // Incompressible data is stored raw.
        var random = SystemRandomNumberGenerator()
        let noise = (0..<64).map { _ in UInt8.random(in: 0...255, using: &random) }
        var noiseArea: [UInt8] = []
        Record.message(StoredMessage(sequence: 1, timestamp: 1, subject: "n", payload: noise)).encode(to: &noiseArea)
        #expect(try FrameHeader.decode(Frame.encode(recordArea: noiseArea, recordCount: 1, compressor: Compressor())).codec == .none)
    }

    @Test func rejectsDamagedFrames() throws {
        let bytes = try FormatTests.golden()
        let frame = Array(bytes[32..<(32 + 32 + 0x73)])
        for position in [0, 5, 13, 29, 40, frame.count - 1] {
            var damaged = frame
            damaged[position] ^= 0x10
            #expect(throws: FormatError.self) { _ = try Frame.decode(damaged) }
        }
        #expect(throws: FormatError.self) { _ = try Frame.decode(Array(frame.dropLast())) }
        #expect(throws: FormatError.badMagic) { _ = try SegmentHeader.decode(Array(repeating: 0, count: 32)) }
    }

    @Test func streamOpensFromGoldenLogAlone() throws {
        // The log is the truth: a stream directory with only stream.json and the golden segment
        // opens with its index rebuilt, the removal applied.
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = directory.stream()
        try FileManager.default.createDirectory(atPath: root + "/segments", withIntermediateDirectories: true)
        try Data(try FormatTests.golden()).write(to: URL(fileURLWithPath: root + "/segments/" + SegmentHeader.fileName(firstSequence: 1)))
        try JSONEncoder().encode(StreamConfig(name: "s")).write(to: URL(fileURLWithPath: root + "/stream.json"))
        let stream = try FileStream(directory: root)
        defer { stream.close() }
        #expect(stream.recovery.indexRebuiltBecause == "index was missing")
        #expect(stream.recovery.messagesIndexed == 3)
        let state = stream.state
        #expect(state.messages == 2 && state.firstSequence == 2 && state.lastSequence == 3 && state.subjects == 2)
        #expect(try stream.message(sequence: 1) == nil)
        #expect(try stream.message(sequence: 3)?.text == "again")
        #expect(try stream.last(subject: "orders.new")?.sequence == 3)
    }
}

@Suite struct DiskUsageTests {
    @Test func aStreamsDiskUsageCountsItsSegmentsIndexAndDictionary() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        _ = await stream.append(contentsOf: (1...500).map { request("orders.\($0 % 7)", "{\"order\":\($0),\"status\":\"new\"}") })
        let usage = stream.diskUsage
        #expect(usage.segments >= 1 && usage.logBytes > 0 && usage.indexBytes > 0)
        #expect(usage.compressionRatio(logical: stream.state.bytes) > 0)
        #expect(StreamDiskUsage().compressionRatio(logical: 100) == 0)
        stream.close()
        #expect(StreamDiskUsage.measure(root: directory.stream() + "/missing") == StreamDiskUsage())
    }
}
