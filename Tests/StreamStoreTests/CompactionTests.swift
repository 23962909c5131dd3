import Foundation
import Testing
@testable import StreamStore

/// Segment rolling and compaction: space comes back, live records stay readable, removed ones stay removed
/// (also when the index is rebuilt from the compacted log), and an interrupted compaction is resolved on open.
@Suite struct CompactionTests {
    static func config(compression: Bool) -> StreamConfig {
        var config = StreamConfig(name: "s")
        config.segmentBytes = 8192
        config.compression = compression
        config.reclaim = false  // these tests compact explicitly (ReclamationTests: the writer on its own)
        return config
    }

    /// Bytes of log in the segments (an open stream's active segment also holds zeroed space past its
    /// last frame, which inspect does not count).
    static func segmentBytes(_ root: String) throws -> Int64 {
        try StreamInspector.inspect(directory: root).segments.reduce(Int64(0)) { $0 + $1.bytes }
    }

    @Test(arguments: [true, false])
    func compactionReclaimsSpaceAndKeepsLiveRecords(compression: Bool) async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: CompactionTests.config(compression: compression))
        for i in 1...600 { _ = try await stream.append(request("c.\(i % 5)", "{\"n\":\(i),\"text\":\"some json-like payload \(i % 17)\"}")) }
        let segmentCount = try FileManager.default.contentsOfDirectory(atPath: directory.stream() + "/segments").count
        #expect(segmentCount > 4)
        // Remove the first 300, every other one after, and one whole subject.
        #expect(try await stream.purge(PurgeRequest(belowSequence: 301)) == 300)
        for i in stride(from: 301, through: 600, by: 2) { _ = try await stream.delete(sequence: UInt64(i)) }
        _ = try await stream.purge(PurgeRequest(filter: "c.4"))
        let live = try stream.messages(from: 1, limit: 1000)
        let before = try CompactionTests.segmentBytes(directory.stream())
        let report = try await stream.compact()
        let after = try CompactionTests.segmentBytes(directory.stream())
        #expect(report.segmentsRemoved > 0 && report.segmentsRewritten > 0)
        #expect(after < before)
        #expect(try stream.messages(from: 1, limit: 1000) == live)
        #expect(try await stream.append(request("c.1", "new")).sequence == 601)
        let state = stream.state
        stream.close()

        // Rebuilt from the compacted log alone, the stream is the same: removals were kept where needed.
        try FileManager.default.removeItem(atPath: directory.stream() + "/index")
        let rebuilt = try FileStream(directory: directory.stream())
        defer { rebuilt.close() }
        #expect(rebuilt.state == state)
        #expect(try rebuilt.messages(from: 1, limit: 1000) == live + [try #require(try rebuilt.message(sequence: 601))])
    }

    @Test func smallFramesAreRepackedIntoLargerOnes() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: CompactionTests.config(compression: true))
        for i in 1...400 { _ = try await stream.append(request("r", "{\"id\":\(i),\"kind\":\"repack\",\"value\":\(i * 7)}")) }
        let before = try CompactionTests.segmentBytes(directory.stream())
        let report = try await stream.compact()
        #expect(report.segmentsRewritten > 0 && report.recordsDropped == 0)
        #expect(try CompactionTests.segmentBytes(directory.stream()) * 2 < before)
        #expect(try stream.messages(from: 1, limit: 500).count == 400)
        stream.close()
    }

    @Test func interruptedCompactionIsCompletedOnOpen() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let stream = try FileStream.create(at: directory.stream(), config: CompactionTests.config(compression: true), fileSystem: fileSystem)
        for i in 1...300 { _ = try await stream.append(request("i", "payload \(i) with some text")) }
        for i in 1...100 { _ = try await stream.delete(sequence: UInt64(i)) }
        let live = try stream.messages(from: 1, limit: 500)
        // The swap's rename fails after the index change committed, and (as if the process died right
        // there) the old locations are not put back.
        fileSystem.inject(.failRename(n: 1))
        var options = CompactionOptions()
        options.rollBackFailedSwap = false
        await #expect(throws: StoreError.self) { _ = try await stream.compact(options) }
        #expect(stream.failure != nil)
        stream.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.stream() + "/segments")
        #expect(names.contains { $0.hasSuffix(".compact") })

        let reopened = try FileStream(directory: directory.stream())
        #expect(reopened.recovery.compactionResolved?.hasPrefix("completed") == true)
        #expect(try reopened.messages(from: 1, limit: 500) == live)
        reopened.close()
    }

    @Test func unfinishedCompactionOutputIsRolledBack() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: CompactionTests.config(compression: true))
        for i in 1...50 { _ = try await stream.append(request("u", "payload \(i)")) }
        stream.close()
        let stray = directory.stream() + "/segments/" + SegmentHeader.fileName(firstSequence: 1) + ".compact"
        try Data("half-written".utf8).write(to: URL(fileURLWithPath: stray))
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.recovery.compactionResolved?.hasPrefix("rolled back") == true)
        #expect(!FileManager.default.fileExists(atPath: stray))
        #expect(reopened.state.messages == 50)
    }
}
