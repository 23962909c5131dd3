#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
import Dispatch
#else
import Foundation
#endif
import Platform

/// A histogram with fixed upper bounds, as Prometheus keeps one: a count per bucket (not cumulative here),
/// a sum and a count. A value type: whoever owns one guards it.
public struct Histogram: Sendable, Equatable {
    /// The buckets' upper bounds, ascending; a value above the last counts in the implicit +Inf bucket.
    public let bounds: [Double]
    /// `counts[i]` is the number of values in (bounds[i-1], bounds[i]]; `counts[bounds.count]` those above.
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = [UInt64](repeating: 0, count: bounds.count + 1)
    }

    public mutating func record(_ value: Double) {
        var index = 0
        while index < bounds.count && value > bounds[index] { index += 1 }
        counts[index] += 1
        sum += value
        count += 1
    }

    /// Bounds for latencies in seconds: 50 µs to 2.5 s.
    public static let seconds: [Double] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
    /// Bounds for group-commit batch sizes in messages.
    public static let batchSizes: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]
}

/// What one stream's write path has done since it was opened: fsync latency, how long each append batch
/// took from the writer taking it to its completion (written, committed and, with sync `always`,
/// durable), group-commit batch sizes, bytes written and bytes known synced, and how long opening
/// (recovery) took. ``FileStream/writeFigures`` is a copy.
public struct WriteFigures: Sendable, Equatable {
    public var fsyncSeconds = Histogram(bounds: Histogram.seconds)
    public var batchSeconds = Histogram(bounds: Histogram.seconds)
    public var batchMessages = Histogram(bounds: Histogram.batchSizes)
    /// Bytes of frames written to the log.
    public var bytesWritten: UInt64 = 0
    /// Bytes of frames covered by a completed sync: what was written before the sync began.
    public var bytesSynced: UInt64 = 0
    /// Seconds opening the stream took (recovery included).
    public var openSeconds: Double = 0

    public init() {}
}

/// The recorder behind ``WriteFigures``, shared by the stream's writer and its sync pipeline. Each call
/// takes one uncontended lock, once per batch or sync, never per message.
final class WriteStatistics: @unchecked Sendable {
    private let lock = Lock()
    private var figures = WriteFigures()

    var snapshot: WriteFigures { lock.withLock { figures } }

    func opened(seconds: Double) { lock.withLock { figures.openSeconds = seconds } }

    func wrote(bytes: Int) { lock.withLock { figures.bytesWritten += UInt64(bytes) } }

    /// Runs `sync`, timing it; on success everything written before it began counts as synced.
    func timeSync(_ sync: () throws -> Void) rethrows {
        let covered = lock.withLock { figures.bytesWritten }
        let start = DispatchTime.now().uptimeNanoseconds
        try sync()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lock.withLock {
            figures.fsyncSeconds.record(seconds)
            figures.bytesSynced = max(figures.bytesSynced, covered)
        }
    }

    /// A batch of `messages` appends completed, `startedAt` (uptime ns) being when the writer took it.
    func batchCompleted(messages: Int, startedAt: UInt64) {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - startedAt) / 1e9
        lock.withLock {
            figures.batchSeconds.record(seconds)
            figures.batchMessages.record(Double(messages))
        }
    }
}
