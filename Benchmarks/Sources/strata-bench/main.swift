import BenchmarkWorkload
import Foundation
import StreamStore

// The figures of BENCHMARKS.md, in one run. Workload: 256-byte JSON-like messages over 10,000 subjects.
// STRATA_BENCH_MESSAGES sets the size of the read/open/size stream (default 1,000,000).

let totalMessages = Int(ProcessInfo.processInfo.environment["STRATA_BENCH_MESSAGES"] ?? "") ?? 1_000_000
// STRATA_BENCH_FRAMES (one frame size) and STRATA_BENCH_LOOKUPS (lookups per frame size, default 100,000) narrow
// the frames section, to profile its lookups: above 100,000 it prints "lookups start" before them.
let frameSizes = (ProcessInfo.processInfo.environment["STRATA_BENCH_FRAMES"].flatMap(Int.init)).map { [$0] } ?? [4 << 10, 16 << 10, 64 << 10]
let frameLookups = ProcessInfo.processInfo.environment["STRATA_BENCH_LOOKUPS"].flatMap(Int.init) ?? 100_000
// STRATA_BENCH_SEQUENTIAL_ROUNDS: how many times the big section reads its stream from the start (default 1).
let sequentialRounds = ProcessInfo.processInfo.environment["STRATA_BENCH_SEQUENTIAL_ROUNDS"].flatMap(Int.init) ?? 1
// STRATA_BENCH_SECTIONS picks sections (comma-separated: sync, append, batch, frames, big, memory); all by default.
let sections = Set((ProcessInfo.processInfo.environment["STRATA_BENCH_SECTIONS"] ?? "sync,append,batch,frames,big,memory")
    .split(separator: ",").map(String.init))
let root = NSTemporaryDirectory() + "strata-bench-" + UUID().uuidString
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func status(_ field: String) -> Int {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}

/// Bytes a directory's files take on disk (allocated blocks, as `du`: LMDB's map file is sparse, so its
/// apparent size is the map size, not what it holds).
func directorySize(_ path: String) -> Int64 {
    let names = (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []
    return names.reduce(0) { total, name in
        var info = stat()
        guard stat(path + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return total }
        return total + Int64(info.st_blocks) * 512
    }
}

final class Latencies: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func add(_ batch: [Double]) { lock.lock(); values += batch; lock.unlock() }
    var sorted: [Double] { lock.lock(); defer { lock.unlock() }; return values.sorted() }
}

/// Appends `count` messages from `appenders` concurrent tasks; returns (msgs/s, sorted latencies in s).
func appendRun(_ stream: FileStream, count: Int, appenders: Int, offset: Int = 0, subject: (@Sendable (Int) -> String)? = nil) async throws -> (Double, [Double]) {
    let latencies = Latencies()
    let start = now()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<appenders {
            group.addTask {
                var local: [Double] = []
                local.reserveCapacity(count / appenders + 1)
                var i = worker
                while i < count {
                    var request = Workload.message(offset + i)
                    if let subject { request.subject = subject(offset + i) }
                    let t0 = now()
                    _ = try await stream.append(request)
                    local.append(now() - t0)
                    i += appenders
                }
                latencies.add(local)
            }
        }
        try await group.waitForAll()
    }
    return (Double(count) / (now() - start), latencies.sorted)
}

func newStream(_ name: String, sync: StreamConfig.SyncPolicy) throws -> FileStream {
    var config = StreamConfig(name: name)
    config.sync = sync
    return try FileStream.create(at: root + "/" + name, config: config)
}

func line(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

line("# strata-bench: \(totalMessages) messages of 256 bytes over \(Workload.subjects) subjects; \(ProcessInfo.processInfo.activeProcessorCount) cores")

// fdatasync latency of this disk: the bound of one-sync-per-message.
if sections.contains("append") {
    let path = root + "/sync-probe"
    let fd = open(path, O_RDWR | O_CREAT, 0o644)
    var samples: [Double] = []
    let block = [UInt8](repeating: 7, count: 4096)
    for i in 0..<300 {
        _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, off_t(i * 4096)) }
        let t0 = now()
        fdatasync(fd)
        samples.append(now() - t0)
    }
    close(fd)
    samples.sort()
    line(String(format: "fdatasync of a 4 KiB append: p50 %.0f us, p99 %.0f us -> one sync per message caps at %.0f msgs/s",
                percentile(samples, 0.5) * 1e6, percentile(samples, 0.99) * 1e6, 1 / percentile(samples, 0.5)))
    line("")
    line("| sync | appenders | msgs/s | p50 latency | p99 latency | machine limit (appenders / fdatasync p50) |")
    line("|---|---:|---:|---:|---:|---:|")
    let syncP50 = percentile(samples, 0.5)
    for (policy, name) in [(StreamConfig.SyncPolicy.always, "always"), (.none, "none")] {
        for appenders in [1, 16, 64, 256] {
            let count = policy == .always ? min(200_000, max(3000, appenders * 1500)) : 300_000
            let stream = try newStream("append-\(name)-\(appenders)", sync: policy)
            let (rate, latencies) = try await appendRun(stream, count: count, appenders: appenders)
            stream.close()
            let limit = policy == .always ? String(format: "%.0f", Double(appenders) / syncP50) : "-"
            line(String(format: "| %@ | %d | %.0f | %.0f us | %.0f us | %@ |", name, appenders, rate,
                        percentile(latencies, 0.5) * 1e6, percentile(latencies, 0.99) * 1e6, limit))
            try? FileManager.default.removeItem(atPath: root + "/append-\(name)-\(appenders)")
        }
    }
}

// The batch API: producers hand the writer 256 messages per call (as a connection does with the PUBs of one read).
if sections.contains("batch") {
    line("")
    line("| sync | producers × batch | msgs/s (batch API) |")
    line("|---|---:|---:|")
    for (policy, name) in [(StreamConfig.SyncPolicy.always, "always"), (.none, "none")] {
        for producers in [1, 4] {
            let stream = try newStream("batch-\(name)-\(producers)", sync: policy)
            let count = 1_000_000
            let start = now()
            await withTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        var i = producer * 256
                        while i < count {
                            let batch = (i..<min(i + 256, count)).map(Workload.message)
                            _ = await stream.append(contentsOf: batch)
                            i += producers * 256
                        }
                    }
                }
            }
            line(String(format: "| %@ | %d × 256 | %.0f |", name, producers, Double(count) / (now() - start)))
            stream.close()
            try? FileManager.default.removeItem(atPath: root + "/batch-\(name)-\(producers)")
        }
    }
}

// Frame size: on-disk size against point-read speed (the choice of the default `frameBytes`).
if sections.contains("frames") {
    line("")
    line("| frame raw bytes | log / payload | last-by-subject lookups/s | random reads by sequence/s |")
    line("|---:|---:|---:|---:|")
    let count = min(totalMessages, 300_000)
    for frameBytes in frameSizes {
        var config = StreamConfig(name: "frames-\(frameBytes)")
        config.sync = .none
        config.frameBytes = frameBytes
        let stream = try FileStream.create(at: root + "/" + config.name, config: config)
        _ = try await appendRun(stream, count: count, appenders: 64)
        try await stream.sync()
        let payload = (0..<count).reduce(0) { $0 + Workload.message($1).payload.count }
        let ratio = Double(directorySize(root + "/" + config.name + "/segments")) / Double(payload)
        let lookups = frameLookups
        if lookups > 100_000 { line("lookups start") }  // (a profiler may attach now)
        var t0 = now()
        for i in 0..<lookups { _ = try stream.last(subject: Workload.subject((i &* 7919) % Workload.subjects)) }
        let lastRate = Double(lookups) / (now() - t0)
        t0 = now()
        for i in 0..<lookups { _ = try stream.message(sequence: UInt64(1 + (i &* 104_729) % count)) }
        let randomRate = Double(lookups) / (now() - t0)
        line(String(format: "| %d | %.3f | %.0f | %.0f |", frameBytes, ratio, lastRate, randomRate))
        stream.close()
        try? FileManager.default.removeItem(atPath: root + "/" + config.name)
    }
}

// The big stream: size on disk, reads, lookups, open and recovery.
if sections.contains("big") {
    line("")
    let bigPath = root + "/big"
    var big = try newStream("big", sync: .none)
    let fillStart = now()
    _ = try await appendRun(big, count: totalMessages, appenders: 64)
    let fillRate = Double(totalMessages) / (now() - fillStart)
    try await big.sync()
    let payloadBytes = (0..<totalMessages).reduce(0) { $0 + Workload.message($1).payload.count }
    let logBytes = directorySize(bigPath + "/segments")
    let indexBytes = directorySize(bigPath + "/index")
    line(String(format: "filled %d messages at %.0f msgs/s (sync none, 64 appenders)", totalMessages, fillRate))
    line(String(format: "on disk: log %.1f MiB, index %.1f MiB for %.1f MiB of payload: log = %.3f of payload (%.2fx), log+index = %.3f",
                Double(logBytes) / 1_048_576, Double(indexBytes) / 1_048_576, Double(payloadBytes) / 1_048_576,
                Double(logBytes) / Double(payloadBytes), Double(payloadBytes) / Double(logBytes), Double(logBytes + indexBytes) / Double(payloadBytes)))

    do {
        var read = 0
        let start = now()
        for _ in 0..<sequentialRounds {
            var next: UInt64 = 1
            while true {
                let batch = try big.messages(from: next, filter: nil, limit: 4096)
                if batch.isEmpty { break }
                read += batch.count
                next = batch.last!.sequence + 1
            }
        }
        line(String(format: "sequential read: %d messages at %.0f msgs/s", read, Double(read) / (now() - start)))

        var singles = 0
        let singleStart = now()
        var s: UInt64 = 1
        while s <= UInt64(min(totalMessages, 300_000)) { _ = try big.message(sequence: s); s += 1; singles += 1 }
        line(String(format: "read by sequence (one call each, in order): %.0f msgs/s", Double(singles) / (now() - singleStart)))

        let lookups = 200_000
        var t0 = now()
        for i in 0..<lookups { _ = try big.last(subject: Workload.subject((i &* 7919) % Workload.subjects)) }
        line(String(format: "last-by-subject: %.0f lookups/s", Double(lookups) / (now() - t0)))
        let first = big.state.firstTimestamp, last = big.state.lastTimestamp
        t0 = now()
        for i in 0..<lookups { _ = try big.firstSequence(atOrAfterTime: first + (last - first) / Int64(lookups) * Int64(i)) }
        line(String(format: "first-at-or-after-time: %.0f lookups/s", Double(lookups) / (now() - t0)))
    }

    // Open after a clean shutdown, and after a crash with an unindexed tail.
    big.close()
    do {
        var t0 = now()
        big = try FileStream(directory: bigPath)
        line(String(format: "open after clean shutdown (%d messages): %.1f ms", totalMessages, (now() - t0) * 1000))
        // Keep the index as it is now, add a tail, then put the old index back: the tail is unindexed,
        // as after a SIGKILL before the index commit reached disk.
        big.close()
        let savedIndex = root + "/saved-index"
        try FileManager.default.copyItem(atPath: bigPath + "/index", toPath: savedIndex)
        for tail in [10_000, 100_000] {
            big = try FileStream(directory: bigPath)
            _ = try await appendRun(big, count: tail, appenders: 64, offset: totalMessages)
            big.close()
            try FileManager.default.removeItem(atPath: bigPath + "/index")
            try FileManager.default.copyItem(atPath: savedIndex, toPath: bigPath + "/index")
            t0 = now()
            big = try FileStream(directory: bigPath)
            line(String(format: "open with an unindexed tail of %d messages: %.1f ms (indexed %d)", tail, (now() - t0) * 1000, big.recovery.messagesIndexed))
            big.close()
            try FileManager.default.removeItem(atPath: savedIndex)
            try FileManager.default.copyItem(atPath: bigPath + "/index", toPath: savedIndex)
        }
        try FileManager.default.removeItem(atPath: bigPath)
    }
}

// Resident memory against the number of subjects.
if sections.contains("memory") {
    line("")
    line("| distinct subjects | messages | RssAnon after (KiB) | VmRSS after (KiB) |")
    line("|---:|---:|---:|---:|")
    for subjects in [10, 1_000_000] {
        let stream = try newStream("subjects-\(subjects)", sync: .none)
        _ = try await appendRun(stream, count: 1_000_000, appenders: 64, subject: { "s.\($0 % subjects)" })
        _ = try stream.subjectCounts(filter: "s.1")
        line("| \(subjects) | 1000000 | \(status("RssAnon")) | \(status("VmRSS")) |")
        stream.close()
        try FileManager.default.removeItem(atPath: root + "/subjects-\(subjects)")
    }
}
