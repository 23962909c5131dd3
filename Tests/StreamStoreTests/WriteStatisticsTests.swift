import Foundation
import Testing
@testable import StreamStore

/// The write path's figures (Specs/WritePath.md, "Figures"): histogram buckets, and what a stream reports
/// of its batches, syncs and bytes, including while a sync is held (bytes are counted synced only once
/// their sync has returned).
@Suite struct WriteStatisticsTests {
    @Test func histogramBucketsAreUpperBoundsInclusive() {
        var histogram = Histogram(bounds: [1, 2, 4])
        for value in [0.5, 1, 1.5, 2, 3, 4, 9] { histogram.record(value) }
        #expect(histogram.counts == [2, 2, 2, 1])
        #expect(histogram.count == 7 && histogram.sum == 21)
    }

    @Test func aStreamCountsItsBatchesSyncsAndBytes() async throws {
        let directory = TemporaryDirectory()
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        defer { stream.close() }
        _ = try await stream.append(request("a", "one"))
        _ = await stream.append(contentsOf: (1...100).map { request("b", "m\($0)") })
        let figures = stream.writeFigures
        #expect(figures.batchMessages.sum == 101)
        #expect(figures.batchMessages.count >= 2 && figures.batchSeconds.count == figures.batchMessages.count)
        #expect(figures.fsyncSeconds.count >= 1)
        #expect(figures.bytesWritten > 0 && figures.bytesSynced == figures.bytesWritten)
        #expect(figures.openSeconds >= 0)
    }

    @Test func bytesCountAsSyncedOnlyOnceTheirSyncReturns() async throws {
        let held = try await PipelinedSyncTests.HeldBatches()
        let during = held.stream.writeFigures
        #expect(during.bytesSynced < during.bytesWritten)
        #expect(during.batchMessages.sum == 1)  // (only the lone first batch has completed)
        held.fileSystem.releaseSyncs(failing: false)
        _ = await held.c
        let after = held.stream.writeFigures
        #expect(after.bytesSynced == after.bytesWritten)
        #expect(after.batchMessages.sum == Double(PipelinedSyncTests.HeldBatches.b + 2))
        held.stream.close()
    }
}
