import Benchmark
import BenchmarkWorkload
import Foundation
import StreamStore

/// package-benchmark suites for the storage engine: throughput, latency and allocations per operation.
/// Workload: 256-byte JSON-like messages over 10,000 subjects (Workload.swift).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal, .peakMemoryResident],
                                           maxDuration: .seconds(5), maxIterations: 20)

    Benchmark("append 10k, sync none, 64 appenders", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = StreamConfig(name: "bench")
        config.sync = .none
        let stream = try FileStream.create(at: directory + "/s", config: config)
        benchmark.startMeasurement()
        try await appendConcurrently(stream, count: 10_000, appenders: 64)
        benchmark.stopMeasurement()
        stream.close()
    }

    Benchmark("append 10k, sync always, 256 appenders", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stream = try FileStream.create(at: directory + "/s", config: StreamConfig(name: "bench"))
        benchmark.startMeasurement()
        try await appendConcurrently(stream, count: 10_000, appenders: 256)
        benchmark.stopMeasurement()
        stream.close()
    }

    Benchmark("sequential read 10k", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let (stream, directory) = try await filledStream(count: 100_000)
        defer { stream.close(); try? FileManager.default.removeItem(atPath: directory) }
        var next: UInt64 = 1
        benchmark.startMeasurement()
        var read = 0
        while read < 10_000 {
            let batch = try stream.messages(from: next, filter: nil, limit: 1000)
            read += batch.count
            next = (batch.last?.sequence ?? 0) + 1
            if next > 100_000 { next = 1 }
        }
        benchmark.stopMeasurement()
    }

    Benchmark("last by subject 10k", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let (stream, directory) = try await filledStream(count: 100_000)
        defer { stream.close(); try? FileManager.default.removeItem(atPath: directory) }
        benchmark.startMeasurement()
        for i in 0..<10_000 { blackHole(try stream.last(subject: Workload.subject(i * 7))) }
        benchmark.stopMeasurement()
    }
}

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "strata-bench-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func appendConcurrently(_ stream: FileStream, count: Int, appenders: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<appenders {
            group.addTask {
                var i = worker
                while i < count {
                    _ = try await stream.append(Workload.message(i))
                    i += appenders
                }
            }
        }
        try await group.waitForAll()
    }
}

func filledStream(count: Int) async throws -> (FileStream, String) {
    let directory = temporaryDirectory()
    var config = StreamConfig(name: "bench")
    config.sync = .none
    let stream = try FileStream.create(at: directory + "/s", config: config)
    try await appendConcurrently(stream, count: count, appenders: 64)
    return (stream, directory)
}
