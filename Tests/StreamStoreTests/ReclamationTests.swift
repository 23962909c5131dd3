import Foundation
import Testing
@testable import StreamStore

/// Space reclaimed while the stream runs (Specs/Retention.md, "Reclamation"), removals batched in one
/// write, readers undisturbed by segment swaps, and message ids pruned once outside the duplicate window.
@Suite struct ReclamationTests {
    static func segmentFiles(_ stream: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: stream + "/segments").filter { $0.hasSuffix(".seg") }.sorted()
    }

    /// Waits (by syncing, which queues behind the writer's own work) until `condition` holds; the writer
    /// reclaims between takes, so each sync lets one more pass run.
    static func settle(_ stream: FileStream, until condition: () throws -> Bool) async throws -> Bool {
        // At least 200 takes, and up to 10 s (a pass after a failed one waits for the writer's interval).
        let deadline = ContinuousClock.now + .seconds(10)
        var takes = 0
        while takes < 200 || ContinuousClock.now < deadline {
            takes += 1
            if try condition() { return true }
            try await stream.sync()
            _ = try await stream.append(request("tick.\(UUID().uuidString.prefix(4))", ""))  // a removal-free take
        }
        return try condition()
    }

    @Test func aCappedStreamKeepsABoundedNumberOfSegments() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        var config = StreamConfig(name: "s")
        config.segmentBytes = 4096
        config.maxMessages = 50
        let stream = try FileStream.create(at: directory.stream(), config: config)
        var most = 0
        for round in 0..<40 {
            _ = await stream.append(contentsOf: (0..<100).map { request("cap.\($0 % 7)", "{\"round\":\(round),\"n\":\($0),\"pad\":\"\(String(repeating: "x", count: 40))\"}") })
            most = max(most, try Self.segmentFiles(directory.stream()).count)
        }
        // 4,000 messages of ~80 bytes would fill dozens of 4 KiB segments; the writer deletes the sealed
        // ones whose messages the cap removed.
        #expect(most < 12, "at most \(most) segments")
        let live = try stream.messages(from: 1, limit: 100)
        #expect(live.count == 50 && live.first?.sequence == 3951)
        let state = stream.state
        stream.close()

        // The log alone still holds exactly these messages (a rebuild sees what the index saw).
        try FileManager.default.removeItem(atPath: directory.stream() + "/index")
        let rebuilt = try FileStream(directory: directory.stream())
        defer { rebuilt.close() }
        #expect(rebuilt.state == state)
        #expect(try rebuilt.messages(from: 1, limit: 100) == live)
    }

    @Test func aDrainedQueueLosesItsSealedSegmentsAndMostlyRemovedOnesAreRewritten() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        var config = StreamConfig(name: "s")
        config.segmentBytes = 4096
        config.compression = false  // (so that the log's size follows the messages')
        let stream = try FileStream.create(at: directory.stream(), config: config)
        for chunk in stride(from: 1, through: 1500, by: 50) {  // one batch each (a batch never spans segments)
            _ = await stream.append(contentsOf: (chunk..<chunk + 50).map { request("q.\($0 % 3)", "{\"job\":\($0),\"body\":\"\(String(repeating: "y", count: 60))\"}") })
        }
        let sealed = try Self.segmentFiles(directory.stream()).count
        #expect(sealed > 5)
        // Remove all but every tenth message: mostly removed segments are rewritten, in passes.
        let kept = Set(stride(from: 10, through: 1500, by: 10).map(UInt64.init))
        let bytesBefore = try Self.logBytes(directory.stream())
        let removed: UInt64 = try await withCheckedThrowingContinuation { continuation in
            stream.remove((1...1500).map(UInt64.init).filter { !kept.contains($0) }) { continuation.resume(with: $0) }
        }
        #expect(removed == 1350)
        #expect(try await Self.settle(stream) {
            try stream.messages(from: 1, limit: 2000).filter { $0.subject.hasPrefix("q.") }.count == 150
                && (try Self.logBytes(directory.stream())) * 3 < bytesBefore
        })
        #expect(try stream.messages(from: 1, limit: 2000).filter { $0.subject.hasPrefix("q.") }.map(\.sequence) == kept.sorted())
        // Drain the rest: every sealed segment goes.
        _ = try await withCheckedThrowingContinuation { continuation in
            stream.remove(kept.sorted()) { continuation.resume(with: $0) }
        }
        #expect(try await Self.settle(stream) { try Self.segmentFiles(directory.stream()).count <= 2 })
        let state = stream.state
        stream.close()
        try FileManager.default.removeItem(atPath: directory.stream() + "/index")
        let rebuilt = try FileStream(directory: directory.stream())
        defer { rebuilt.close() }
        #expect(rebuilt.state.messages == state.messages && rebuilt.state.lastSequence == state.lastSequence)
        #expect(try rebuilt.messages(from: 1, limit: 2000).allSatisfy { $0.subject.hasPrefix("tick.") })
    }

    /// Once every message is removed, the active segment is sealed and deleted too (rather than kept until
    /// it fills); sequences go on from where they were, also after a rebuild from the log.
    @Test func anEmptiedStreamKeepsOnlyAFreshSegment() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        var config = StreamConfig(name: "s")
        config.compression = false
        let stream = try FileStream.create(at: directory.stream(), config: config)
        _ = await stream.append(contentsOf: (1...2000).map { request("e.\($0 % 4)", "{\"n\":\($0),\"pad\":\"\(String(repeating: "e", count: 60))\"}") })
        #expect(try Self.segmentFiles(directory.stream()) == ["00000000000000000001.seg"])
        _ = try await withCheckedThrowingContinuation { continuation in
            stream.remove((1...2000).map(UInt64.init)) { continuation.resume(with: $0) }
        }
        try await stream.sync()  // the pass runs after the removal's take
        #expect(try Self.segmentFiles(directory.stream()) == ["00000000000000002001.seg"])
        #expect(try await stream.append(request("e.1", "next")).sequence == 2001)
        stream.close()
        try FileManager.default.removeItem(atPath: directory.stream() + "/index")
        let rebuilt = try FileStream(directory: directory.stream())
        defer { rebuilt.close() }
        #expect(rebuilt.state.messages == 1 && rebuilt.state.firstSequence == 2001 && rebuilt.state.lastSequence == 2001)
    }

    /// A stream with 1,500 messages over many 4 KiB segments, all but every tenth removed while reclamation
    /// is off; turning it on (a config update: one write of stream.json, one rename) starts rewrites.
    static func mostlyRemoved(_ directory: TemporaryDirectory, fileSystem: FaultInjectingFileSystem) async throws -> (FileStream, StreamConfig) {
        var config = StreamConfig(name: "s")
        config.segmentBytes = 4096
        config.compression = false
        config.reclaim = false
        let stream = try FileStream.create(at: directory.stream(), config: config, fileSystem: fileSystem)
        for chunk in stride(from: 1, through: 1500, by: 50) {
            _ = await stream.append(contentsOf: (chunk..<chunk + 50).map { request("f.\($0 % 3)", "{\"n\":\($0),\"pad\":\"\(String(repeating: "f", count: 60))\"}") })
        }
        _ = try await withCheckedThrowingContinuation { continuation in
            stream.remove((1...1500).map(UInt64.init).filter { $0 % 10 != 0 }) { continuation.resume(with: $0) }
        }
        config.reclaim = true
        return (stream, config)
    }

    static func expectTenths(_ stream: FileStream) throws {
        let held = try stream.messages(from: 1, limit: 3000).filter { $0.subject.hasPrefix("f.") }
        #expect(held.map(\.sequence) == Array(stride(from: 10, through: 1500, by: 10)).map(UInt64.init))
        #expect(held.allSatisfy { $0.text.hasPrefix("{\"n\":\($0.sequence),") })
    }

    /// A rewrite that fails before its swap (here its first write) leaves the stream as it was and
    /// writable, with no output left behind; it is tried again later and then succeeds.
    @Test func aReclamationThatFailsBeforeItsSwapChangesNothing() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let (stream, config) = try await Self.mostlyRemoved(directory, fileSystem: fileSystem)
        fileSystem.inject(.failWrite(n: 2, errno: ENOSPC))  // 1: stream.json; 2: the rewrite's first write
        try await stream.update(config: config)
        try await stream.sync()
        #expect(stream.failure == nil)
        #expect(stream.backgroundError?.contains("reclamation") == true)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.stream() + "/segments").sorted()
        #expect(files.allSatisfy { !$0.hasSuffix(".compact") }, "\(files) \(stream.backgroundError ?? "")")
        try Self.expectTenths(stream)
        #expect(try await stream.append(request("g.after", "after")).sequence == 1501)
        // The next passes rewrite the segments (each waits for the interval since the failed one).
        let before = try Self.logBytes(directory.stream())
        #expect(try await Self.settle(stream) { try Self.logBytes(directory.stream()) * 2 < before })
        try Self.expectTenths(stream)
        stream.close()
    }

    /// A rewrite whose rename fails after the index committed the new locations puts the old ones back:
    /// readers never see the mismatch, the stream stays writable, and a later pass succeeds. (A crash
    /// inside the swap is resolved on open: RecoveryTests/CompactionTests' interrupted compaction.)
    @Test func aReclamationWhoseRenameFailsIsRolledBack() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let (stream, config) = try await Self.mostlyRemoved(directory, fileSystem: fileSystem)
        fileSystem.inject(.failRename(n: 2))  // 1: stream.json; 2: the first rewrite's rename
        try await stream.update(config: config)
        try await stream.sync()
        #expect(stream.failure == nil)
        #expect(stream.backgroundError?.contains("rename") == true)
        try Self.expectTenths(stream)
        #expect(try await stream.append(request("g.after", "after")).sequence == 1501)
        let before = try Self.logBytes(directory.stream())
        #expect(try await Self.settle(stream) { try Self.logBytes(directory.stream()) * 2 < before })
        try Self.expectTenths(stream)
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.recovery.isClean, "\(reopened.recovery)")
        try Self.expectTenths(reopened)
    }

    static func logBytes(_ stream: String) throws -> Int64 {
        try segmentFiles(stream).reduce(Int64(0)) { total, name in
            let attributes = try FileManager.default.attributesOfItem(atPath: stream + "/segments/" + name)
            return total + ((attributes[.size] as? NSNumber)?.int64Value ?? 0)
        }
    }

    @Test func removalsQueuedTogetherAreOneWriteAndOneSync() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), fileSystem: fileSystem)
        _ = await stream.append(contentsOf: (1...200).map { request("w", "\($0)") })
        // Hold the writer inside an append's completion while 50 acks' removals queue up behind it.
        let held = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        stream.append(request("w", "hold")) { _ in entered.signal(); held.wait() }
        entered.wait()
        let syncsBefore = fileSystem.syncCount
        let group = DispatchGroup()
        let counter = Counter()
        for i in 0..<50 {
            group.enter()
            stream.remove([UInt64(i * 2 + 1), UInt64(i * 2 + 2)]) { result in counter.add((try? result.get()) ?? 0); group.leave() }
        }
        held.signal()
        group.wait()
        #expect(counter.value == 100)
        #expect(stream.state.messages == 101 && stream.state.firstSequence == 101)
        #expect(fileSystem.syncCount - syncsBefore == 1)
        stream.close()
    }

    /// Readers running while the writer deletes and rewrites segments never see an error or a message
    /// that is not the one they asked for.
    @Test func readersNeverSeeAHalfAppliedSwap() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        var config = StreamConfig(name: "s")
        config.segmentBytes = 4096
        config.compression = false
        config.reclaim = false
        let stream = try FileStream.create(at: directory.stream(), config: config)
        for chunk in stride(from: 1, through: 3000, by: 50) {
            _ = await stream.append(contentsOf: (chunk..<chunk + 50).map { request("r.\($0 % 5)", "{\"n\":\($0),\"pad\":\"\(String(repeating: "z", count: 50))\"}") })
        }
        #expect(try Self.segmentFiles(directory.stream()).count > 10)
        let stop = Flag()
        let failures = Counter()
        let readers = (0..<2).map { _ in
            Thread {
                while !stop.isSet {
                    do {
                        for message in try stream.messages(from: 1, limit: 3000) where message.text != "{\"n\":\(message.sequence),\"pad\":\"\(String(repeating: "z", count: 50))\"}" {
                            failures.add(1)
                        }
                    } catch {
                        failures.add(1)
                    }
                }
            }
        }
        readers.forEach { $0.start() }
        for round in 0..<6 {
            // Each round removes a slice of every segment, then compacts them all.
            let doomed = (1...3000).map(UInt64.init).filter { $0 % 6 == UInt64(round) }
            _ = try await withCheckedThrowingContinuation { continuation in stream.remove(doomed) { continuation.resume(with: $0) } }
            let report = try await stream.compact()
            #expect(report.segmentsRewritten + report.segmentsRemoved > 0)
        }
        stop.set()
        while readers.contains(where: { !$0.isFinished }) { await Task.yield() }
        #expect(failures.value == 0)
        #expect(stream.state.messages == 0)
        stream.close()
    }

    @Test func messageIDsArePrunedOnceOutsideTheWindowAndOnOpen() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let clock = ManualClock()
        var config = StreamConfig(name: "s")
        config.duplicateWindow = 10_000_000_000  // 10 s of the manual clock
        var stream = try FileStream.create(at: directory.stream(), config: config, clock: clock.function)
        _ = await stream.append(contentsOf: (1...300).map { request("d", "\($0)", id: "id-\($0)") })
        #expect(try Self.idEntries(directory.stream()) == (300, 300))
        clock.advance(11_000_000_000)
        // The next take of the writer prunes: only the id published now is left.
        _ = try await stream.append(request("d", "new", id: "id-new"))
        try await stream.sync()
        #expect(try Self.idEntries(directory.stream()) == (1, 1))
        // An id seen again after its window is stored anew, not a duplicate.
        #expect(try await stream.append(request("d", "again", id: "id-7")).duplicate == false)
        stream.close()

        // On open: ids that left the window while the stream was closed are pruned.
        clock.advance(11_000_000_000)
        stream = try FileStream(directory: directory.stream(), clock: clock.function)
        try await stream.sync()
        #expect(try Self.idEntries(directory.stream()) == (0, 0))
        stream.close()
    }

    /// (messageIDs, idSequences) entries in the index.
    static func idEntries(_ stream: String) throws -> (Int, Int) {
        let entries = try StreamInspector.inspect(directory: stream).index.entries
        return (entries["messageIDs"] ?? -1, entries["idSequences"] ?? -1)
    }

    /// A drained queue's index keeps its peak pages until compacted; compaction gives them back while the
    /// stream stays readable and writable, and the compacted index opens cleanly.
    @Test func aDrainedIndexIsCompacted() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        // Without background reclamation: on a loaded machine the writer's own index check (10 s after
        // start) could compact first, and the explicit compaction below would find nothing to do.
        var config = StreamConfig(name: "s")
        config.reclaim = false
        let stream = try FileStream.create(at: directory.stream(), config: config)
        // Enough messages that the drained index's free pages pass the 1 MiB a compaction waits for.
        for chunk in stride(from: 1, through: 100_000, by: 5_000) {
            _ = await stream.append(contentsOf: (chunk..<chunk + 5_000).map { request("d.\($0 % 50)", "\($0)") })
        }
        _ = try await withCheckedThrowingContinuation { continuation in
            stream.remove((1...99_990).map(UInt64.init)) { continuation.resume(with: $0) }
        }
        let before = try Self.allocatedKiB(directory.stream() + "/index/data.mdb")
        #expect(try stream.index.compactIfWasteful())
        let after = try Self.allocatedKiB(directory.stream() + "/index/data.mdb")
        #expect(after * 4 < before, "index \(before) KiB → \(after) KiB")
        #expect(try !stream.index.compactIfWasteful())  // nothing left to give back
        #expect(try stream.messages(from: 1, limit: 100).map(\.sequence) == Array(99_991...100_000))
        #expect(try await stream.append(request("d.1", "more")).sequence == 100_001)
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.recovery.isClean && reopened.state.messages == 11)
    }

    static func allocatedKiB(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw StoreError.notAStream(path: path) }
        return Int(info.st_blocks) / 2
    }

    @Test func removalHistoryAnswersOnlyWhatItKnows() {
        var history = RemovalHistory()
        #expect(!history.mayHaveRemoved(in: 10...20, since: 0, now: 0))
        history.record(before: 0, after: 5, lowest: 1, highest: 5)
        history.record(before: 5, after: 6, lowest: 30, highest: 30)
        #expect(!history.mayHaveRemoved(in: 10...20, since: 0, now: 6))
        #expect(history.mayHaveRemoved(in: 10...30, since: 5, now: 6))
        #expect(history.mayHaveRemoved(in: 3...4, since: 0, now: 6))
        // A removal it did not record (count 6 → 7): it cannot tell.
        #expect(history.mayHaveRemoved(in: 100...200, since: 6, now: 7))
        // Older than what it keeps: it cannot tell.
        for i in 0..<UInt64(RemovalHistory.capacity) { history.record(before: 6 + i, after: 7 + i, lowest: 1000, highest: 1000) }
        #expect(history.mayHaveRemoved(in: 10...20, since: 0, now: 6 + UInt64(RemovalHistory.capacity)))
        #expect(!history.mayHaveRemoved(in: 10...20, since: 10, now: 6 + UInt64(RemovalHistory.capacity)))
    }

    @Test func reclamationPolicyDeletesDeadSegmentsAndRewritesOneMostlyRemoved() {
        typealias S = ReclamationPolicy.Segment
        let segments = [S(first: 1, live: 0, held: 100), S(first: 101, live: 40, held: 100), S(first: 201, live: 10, held: 100),
                        S(first: 301, live: 0, held: 0), S(first: 401, live: 60, held: 100)]
        #expect(ReclamationPolicy.candidates(segments) == [1, 101])
        #expect(ReclamationPolicy.candidates(segments, rewrites: 2) == [1, 101, 201])
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var total: UInt64 = 0
    func add(_ n: UInt64) { lock.lock(); total += n; lock.unlock() }
    var value: UInt64 { lock.lock(); defer { lock.unlock() }; return total }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
