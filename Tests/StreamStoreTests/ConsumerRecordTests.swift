import Foundation
import Testing
@testable import StreamStore

/// Consumer records live in the stream's LMDB environment: they survive reopen, index rebuilds and
/// repair, and verify checks their positions against the stream.
@Suite struct ConsumerRecordTests {
    static func record(_ name: String, delivered: UInt64, floor: UInt64, pending: [UInt64]) -> ConsumerRecord {
        ConsumerRecord(name: name, deliveredStreamSequence: delivered, ackFloorStreamSequence: floor, pendingSequences: pending,
                       config: Data(#"{"durable_name":"\#(name)"}"#.utf8), state: Data("{}".utf8))
    }

    @Test func recordsSurviveReopenAndRebuild() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        for i in 1...10 { _ = try await stream.append(request("c", "\(i)")) }
        try stream.saveConsumer(Self.record("a", delivered: 8, floor: 5, pending: [6, 8]))
        try stream.saveConsumer(Self.record("b", delivered: 10, floor: 10, pending: []))
        try stream.saveConsumer(Self.record("a", delivered: 9, floor: 6, pending: [8]))
        #expect(try stream.deleteConsumer(named: "b"))
        #expect(try !stream.deleteConsumer(named: "b"))
        stream.close()

        // The marker no longer matches (a torn tail): the index is rebuilt, consumers are kept.
        let segment = directory.stream() + "/segments/" + SegmentHeader.fileName(firstSequence: 1)
        let frames = try RecoveryTests.frames(segment)
        try POSIXFileSystem().open(segment, create: false).truncate(to: Int64(frames.last!.offset + 3))
        let reopened = try FileStream(directory: directory.stream())
        #expect(reopened.recovery.indexRebuiltBecause != nil)
        #expect(try reopened.consumers() == [Self.record("a", delivered: 9, floor: 6, pending: [8])])
        reopened.close()
        #expect(try StreamInspector.inspect(directory: directory.stream()).consumers.map(\.name) == ["a"])
        let reader = try FileStream.openReadOnly(directory: directory.stream())
        #expect(throws: StoreError.self) { try reader.saveConsumer(Self.record("x", delivered: 1, floor: 0, pending: [1])) }
    }

    @Test func binaryEncodingRoundTripsAndRejectsDamage() throws {
        let record = ConsumerRecord(name: "dürable", deliveredStreamSequence: 1 << 40, ackFloorStreamSequence: 7,
                                    pendingSequences: [8, 9, 1 << 40], config: Data([1, 2, 3]), state: Data(repeating: 0xAB, count: 300))
        let bytes = record.encoded()
        #expect(bytes.first == 0x01)
        #expect(try ConsumerRecord(decoding: bytes) == record)
        // The JSON form of earlier versions still reads.
        #expect(try ConsumerRecord(decoding: Array(JSONEncoder().encode(record))) == record)
        // Every truncation, and a trailing byte, is refused rather than misread.
        for length in 0..<bytes.count {
            #expect(throws: StoreError.self) { try ConsumerRecord(decoding: Array(bytes.prefix(length))) }
        }
        #expect(throws: StoreError.self) { try ConsumerRecord(decoding: bytes + [0]) }
    }

    @Test func verifyFlagsBadPositionsAndRepairClampsThem() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        for i in 1...10 { _ = try await stream.append(request("c", "\(i)")) }
        _ = try await stream.delete(sequence: 7)
        try stream.saveConsumer(Self.record("ok", delivered: 10, floor: 4, pending: [5, 7, 9]))
        try stream.saveConsumer(Self.record("bad", delivered: 25, floor: 3, pending: [2, 4]))
        stream.close()

        let report = try StreamVerifier.verify(directory: directory.stream())
        #expect(report.findings.map(\.kind) == [.consumerState])
        #expect(report.findings.first?.detail.contains("'bad'") == true)

        let repaired = try StreamRepairer.repair(directory: directory.stream())
        #expect(repaired.actions.contains { $0.kind == .restoreConsumers })
        let after = try FileStream(directory: directory.stream())
        defer { after.close() }
        // Positions brought within the stream; pending messages no longer held (7) dropped.
        #expect(try after.consumers() == [Self.record("bad", delivered: 10, floor: 3, pending: [4]),
                                          Self.record("ok", delivered: 10, floor: 4, pending: [5, 9])])
        after.close()
        #expect(try StreamVerifier.verify(directory: directory.stream()).isClean)
    }

    @Test func memoryStreamsKeepRecordsToo() throws {
        let stream = try MemoryStream(config: StreamConfig(name: "m"))
        try stream.saveConsumer(Self.record("z", delivered: 0, floor: 0, pending: []))
        try stream.saveConsumer(Self.record("a", delivered: 0, floor: 0, pending: []))
        #expect(try stream.consumers().map(\.name) == ["a", "z"])
        #expect(try stream.deleteConsumer(named: "z"))
    }
}
