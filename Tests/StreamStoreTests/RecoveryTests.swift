import Foundation
import Testing
@testable import StreamStore
import LMDB

/// Recovery on open after torn writes, bit flips and lost or damaged indexes (Specs/Recovery.md).
/// Each case checks exactly which records survive.
@Suite struct RecoveryTests {
    /// An index file grows with its data: a new one starts at 64 KiB, a full map is doubled by the
    /// write that needs it (many times over here), and a file of the earlier 32 MiB up-front size (its map
    /// mostly unused) opens with every message and is cut to what it holds.
    @Test func indexFileGrowsWithItsDataAndAnOversizedOneShrinksOnOpen() async throws {
        let directory = TemporaryDirectory()
        var config = StreamConfig(name: "s")
        config.compression = true
        let stream = try FileStream.create(at: directory.stream(), config: config)
        let indexFile = directory.stream() + "/index/data.mdb"
        let fresh = try #require(try FileManager.default.attributesOfItem(atPath: indexFile)[.size] as? Int)
        #expect(fresh <= IndexStore.initialMapBytes)
        let results: [Result<AppendResult, StoreError>] = await withCheckedContinuation { done in
            stream.append(contentsOf: (0..<20_000).map { request("g.\($0 % 5000)", "payload \($0)") }) { done.resume(returning: $0) }
        }
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        let grown = try #require(try FileManager.default.attributesOfItem(atPath: indexFile)[.size] as? Int)
        #expect(grown > IndexStore.initialMapBytes && grown < 32 << 20)
        stream.close()
        // The earlier format's up-front size: the same file opened with a 32 MiB map is extended to it.
        do { _ = try Environment(path: directory.stream() + "/index", mapSize: 32 << 20, maxDatabases: 10, durability: .deferred) }
        #expect(try FileManager.default.attributesOfItem(atPath: indexFile)[.size] as? Int == 32 << 20)
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.state.messages == 20_000)
        #expect(try reopened.message(sequence: 12_345)?.text == "payload 12344")
        #expect(try reopened.count(filter: "g.7", atOrAfter: 1) == 4)
        let reopenedSize = try #require(try FileManager.default.attributesOfItem(atPath: indexFile)[.size] as? Int)
        #expect(reopenedSize <= grown)
    }

    /// A closed stream of `count` messages, one frame each (every append awaited alone).
    static func makeStream(count: Int, compression: Bool, in directory: TemporaryDirectory) async throws -> String {
        var config = StreamConfig(name: "s")
        config.compression = compression
        let stream = try FileStream.create(at: directory.stream(), config: config)
        for i in 1...count { _ = try await stream.append(request("r.\(i % 3)", "message number \(i) " + String(repeating: "x", count: i % 40))) }
        stream.close()
        return directory.stream()
    }

    /// 200 messages in 4 KiB segments (more than three); the segment file names, sorted.
    static func makeSegmentedStream(in directory: TemporaryDirectory) async throws -> [String] {
        var config = StreamConfig(name: "s")
        config.segmentBytes = 4096
        let stream = try FileStream.create(at: directory.stream(), config: config)
        for i in 1...200 { _ = try await stream.append(request("h", "payload \(i) " + String(repeating: "y", count: 60))) }
        stream.close()
        return try FileManager.default.contentsOfDirectory(atPath: directory.stream() + "/segments").sorted()
    }

    static func segmentPath(_ root: String) -> String { root + "/segments/" + SegmentHeader.fileName(firstSequence: 1) }

    /// (offset, length) of each frame of a segment file.
    static func frames(_ path: String) throws -> [(offset: Int, length: Int)] {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        var result: [(Int, Int)] = []
        var offset = SegmentHeader.size
        while offset < bytes.count {
            let header = try FrameHeader.decode(Array(bytes[offset..<(offset + FrameHeader.size)]))
            result.append((offset, header.frameLength))
            offset += header.frameLength
        }
        return result
    }

    /// A copy of a stream in a directory of its own, removed when the copy is released. Read `path` at
    /// every use: that keeps the copy (and its directory) alive as long as it is used.
    final class StreamCopy {
        private let directory = TemporaryDirectory()
        var path: String { directory.stream("copy") }
        init(of root: String) throws { try FileManager.default.copyItem(atPath: root, toPath: directory.stream("copy")) }
    }

    static func expectIntact(_ stream: FileStream, sequences: ClosedRange<Int>, except missing: Set<Int> = []) throws {
        for i in sequences {
            let message = try stream.message(sequence: UInt64(i))
            if missing.contains(i) {
                #expect(message == nil, "sequence \(i) should be gone")
            } else {
                #expect(message?.text == "message number \(i) " + String(repeating: "x", count: i % 40), "sequence \(i)")
            }
        }
    }

    @Test(arguments: [true, false])
    func tornTailIsCutAtEveryByte(compression: Bool) async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = try await RecoveryTests.makeStream(count: 12, compression: compression, in: directory)
        let last = try #require(try RecoveryTests.frames(RecoveryTests.segmentPath(root)).last)
        for cut in last.offset..<(last.offset + last.length) {
            let copy = try StreamCopy(of: root)
            let handle = try POSIXFileSystem().open(RecoveryTests.segmentPath(copy.path), create: false)
            try handle.truncate(to: Int64(cut))
            let stream = try FileStream(directory: copy.path)
            if cut > last.offset {
                #expect(stream.recovery.truncatedTail?.offset == Int64(last.offset), "cut at \(cut)")
                #expect(stream.recovery.truncatedTail?.bytes == Int64(cut - last.offset))
            }
            #expect(stream.recovery.indexRebuiltBecause != nil)
            try RecoveryTests.expectIntact(stream, sequences: 1...12, except: [12])
            // The index had acknowledged 12: its sequence is never given again.
            #expect(stream.state.lastSequence == 12 && stream.state.messages == 11)
            #expect(try await stream.append(request("r.new", "after")).sequence == 13)
            stream.close()
        }
    }

    @Test(arguments: [true, false])
    func bitFlipInTheMiddleCostsOnlyItsFrame(compression: Bool) async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = try await RecoveryTests.makeStream(count: 30, compression: compression, in: directory)
        let frames = try RecoveryTests.frames(RecoveryTests.segmentPath(root))
        var generator = SystemRandomNumberGenerator()
        for round in 0..<6 {
            let victim = Int.random(in: 1..<(frames.count - 1), using: &generator)  // frame k holds sequence k + 1
            let frame = frames[victim]
            let copy = try StreamCopy(of: root)
            let path = RecoveryTests.segmentPath(copy.path)
            var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            let position = frame.offset + Int.random(in: 4..<frame.length, using: &generator)
            bytes[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let sequence = victim + 1

            // With the index intact, the damaged record reads as corrupt (with its place); all others read.
            do {
                let stream = try FileStream(directory: copy.path)
                #expect(stream.recovery.isClean)
                #expect { _ = try stream.message(sequence: UInt64(sequence)) } throws: { error in
                    guard case StoreError.corrupt(let file, let offset, _) = error else { return false }
                    return file == path && offset == Int64(frame.offset)
                }
                for other in 1...30 where other != sequence {
                    #expect(try stream.message(sequence: UInt64(other))?.text.hasPrefix("message number \(other) ") == true)
                }
                stream.close()
            }

            // Rebuilt from the log, the damage is reported with the sequences it cost.
            try FileManager.default.removeItem(atPath: copy.path + "/index")
            let stream = try FileStream(directory: copy.path)
            #expect(stream.recovery.damagedRegions.count == 1, "round \(round)")
            let region = try #require(stream.recovery.damagedRegions.first)
            #expect(region.file == path && region.offset == Int64(frame.offset) && region.length == Int64(frame.length))
            #expect(region.lostSequences == UInt64(sequence)...UInt64(sequence))
            try RecoveryTests.expectIntact(stream, sequences: 1...30, except: [sequence])
            #expect(stream.state.messages == 29 && stream.state.lastSequence == 30)
            stream.close()
        }
    }

    @Test func missingCorruptAndStaleIndexes() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = try await RecoveryTests.makeStream(count: 10, compression: true, in: directory)
        let staleIndex = TemporaryDirectory()
        defer { withExtendedLifetime(staleIndex) {} }
        try FileManager.default.copyItem(atPath: root + "/index", toPath: staleIndex.path + "/index")
        let stream = try FileStream(directory: root)
        for i in 11...20 { _ = try await stream.append(request("r.\(i % 3)", "message number \(i) " + String(repeating: "x", count: i % 40))) }
        #expect(try await stream.delete(sequence: 4))
        stream.close()

        // Missing: rebuilt from the log, the deletion replayed.
        let missing = try StreamCopy(of: root)
        try FileManager.default.removeItem(atPath: missing.path + "/index")
        let rebuilt = try FileStream(directory: missing.path)
        #expect(rebuilt.recovery.indexRebuiltBecause == "index was missing")
        try RecoveryTests.expectIntact(rebuilt, sequences: 1...20, except: [4])
        #expect(rebuilt.state.messages == 19 && rebuilt.state.subjects == 3)
        rebuilt.close()

        // Corrupt: moved aside, rebuilt.
        let corrupt = try StreamCopy(of: root)
        try Data(repeating: 0xAB, count: 64 << 10).write(to: URL(fileURLWithPath: corrupt.path + "/index/data.mdb"))
        let repaired = try FileStream(directory: corrupt.path)
        #expect(repaired.recovery.indexRebuiltBecause?.contains("could not be read") == true)
        try RecoveryTests.expectIntact(repaired, sequences: 1...20, except: [4])
        repaired.close()

        // Stale: an index from when the stream had 10 messages; only the tail is indexed.
        let stale = try StreamCopy(of: root)
        try FileManager.default.removeItem(atPath: stale.path + "/index")
        try FileManager.default.copyItem(atPath: staleIndex.path + "/index", toPath: stale.path + "/index")
        let caughtUp = try FileStream(directory: stale.path)
        #expect(caughtUp.recovery.indexRebuiltBecause == nil)
        #expect(caughtUp.recovery.messagesIndexed == 10)
        try RecoveryTests.expectIntact(caughtUp, sequences: 1...20, except: [4])
        caughtUp.close()

    }

    /// An index of format 1 (one `bySubject` key per message) is emptied on open, consumer records kept,
    /// and rebuilt from the log into format 2 (sorted duplicates).
    @Test func formatOneIndexIsRebuiltKeepingConsumers() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = try await RecoveryTests.makeStream(count: 10, compression: true, in: directory)
        let stream = try FileStream(directory: root)
        try stream.saveConsumer(ConsumerRecord(name: "c", deliveredStreamSequence: 5, ackFloorStreamSequence: 3, pendingSequences: [5],
                                               config: Data("{}".utf8), state: Data([1, 2])))
        stream.close()
        // Turn the index into format 1: the old bySubject layout and version.
        try {
            let environment = try Environment(path: root + "/index", maxDatabases: 10, durability: .deferred)
            try environment.write { (txn) throws in
                try txn.drop(try txn.openDatabase("bySubject", create: true, sortedFixedDuplicates: true))
                try txn.put(try txn.openDatabase("bySubject", create: true), key: [UInt8](repeating: 0, count: 16), value: [UInt8]())
                try txn.put(try txn.openDatabase("meta", create: false), key: Array("format".utf8), value: [UInt8]([1, 0, 0, 0]))
            }
        }()  // the environment closes here

        let upgraded = try FileStream(directory: root)
        #expect(upgraded.recovery.messagesIndexed == 10)  // every message indexed again from the log
        try RecoveryTests.expectIntact(upgraded, sequences: 1...10, except: [])
        #expect(try upgraded.consumers().map(\.name) == ["c"])
        // Subject queries run on the new layout.
        let subjects = try upgraded.subjectCounts(filter: nil)
        #expect(subjects.values.reduce(0, +) == 10)
        for (subject, count) in subjects {
            #expect(try upgraded.count(filter: subject, atOrAfter: 1) == count)
            #expect(try upgraded.next(atOrAfter: 1, filter: subject)?.subject == subject)
        }
        upgraded.close()
    }

    /// An index of format 2 (no `idSequences`) gets its ids listed by sequence on open, in place, without a
    /// rebuild: de-duplication goes on, and the ids are pruned once outside the window.
    @Test func formatTwoIndexIsUpgradedInPlace() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let clock = ManualClock()
        let root = directory.stream()
        var config = StreamConfig(name: "s")
        config.duplicateWindow = 60_000_000_000
        let stream = try FileStream.create(at: root, config: config, clock: clock.function)
        _ = await stream.append(contentsOf: (1...20).map { request("u", "\($0)", id: "m\($0)") })
        stream.close()
        try {
            let environment = try Environment(path: root + "/index", maxDatabases: 10, durability: .deferred)
            try environment.write { (txn) throws in
                try txn.drop(try txn.openDatabase("idSequences", create: true))
                try txn.put(try txn.openDatabase("meta", create: false), key: Array("format".utf8), value: [UInt8]([2, 0, 0, 0]))
            }
        }()
        let upgraded = try FileStream(directory: root, clock: clock.function)
        #expect(upgraded.recovery.messagesIndexed == 0 && upgraded.recovery.indexRebuiltBecause == nil)
        #expect(try await upgraded.append(request("u", "again", id: "m5")).duplicate)
        #expect(try ReclamationTests.idEntries(root) == (20, 20))
        clock.advance(61_000_000_000)
        _ = try await upgraded.append(request("u", "later", id: "m21"))
        try await upgraded.sync()
        #expect(try ReclamationTests.idEntries(root) == (1, 1))
        upgraded.close()
    }

    /// The time index is sparse (an entry per 64 sequences); lookups by time still find the
    /// exact first message, across appends of one message and of large batches, after the head moves,
    /// and after a rebuild.
    @Test func sparseTimeIndexFindsExactlyTheFirstMessageAtOrAfterATime() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let clock = ManualClock()
        let start = clock.now
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), clock: clock.function)
        var times: [Int64] = []  // times[i] = timestamp of sequence i + 1
        for i in 0..<300 {  // one by one, 1 ms apart: an entry every 10 messages
            times.append(clock.now)
            _ = try await stream.append(request("a", "\(i)"))
            clock.advance(1_000_000)
        }
        for _ in 0..<10 {  // batches of 1000 at one instant: entries by sequence count only
            let batch = (0..<1000).map { request("b", "\($0)") }
            times.append(contentsOf: repeatElement(clock.now, count: 1000))
            _ = await stream.append(contentsOf: batch)
            clock.advance(3_000)
        }
        func expectExact(_ stream: FileStream, heldFrom first: Int) throws {
            let probes = [start - 1, start, start + 1, start + 55_000_000, start + 299_000_000, start + 299_000_001,
                          times[1000], times[4000] + 1, times.last!, times.last! + 1]
            for time in probes {
                let expected = times.indices.first { $0 + 1 >= first && times[$0] >= time }.map { UInt64($0 + 1) }
                #expect(try stream.firstSequence(atOrAfterTime: time) == expected, "time \(time - start)")
            }
        }
        try expectExact(stream, heldFrom: 1)
        _ = try await stream.purge(PurgeRequest(belowSequence: 2_500))
        try expectExact(stream, heldFrom: 2_500)
        stream.close()
        try FileManager.default.removeItem(atPath: directory.stream() + "/index")
        let rebuilt = try FileStream(directory: directory.stream(), clock: clock.function)
        try expectExact(rebuilt, heldFrom: 2_500)
        rebuilt.close()
    }

    /// With sync always the writer keeps zeroed space past the log: it is not damage anywhere (recovery
    /// after a crash, verify and inspect of a live stream), a clean close trims it, and a torn frame
    /// written into it is still cut as a torn tail.
    @Test func preallocatedZerosAreTheEndOfTheLogNotDamage() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = directory.stream()
        let stream = try FileStream.create(at: root, config: StreamConfig(name: "s"))  // sync always (the default)
        for i in 1...20 { _ = try await stream.append(request("r.\(i % 3)", "message number \(i) " + String(repeating: "x", count: i % 40))) }
        let segment = RecoveryTests.segmentPath(root)
        let logEnd = try #require(try StreamInspector.inspect(directory: root).segments.first?.bytes)
        let fileSize = try POSIXFileSystem().open(segment, create: false).size()
        #expect(fileSize > logEnd)  // zeroed space ahead of the log
        #expect(try StreamVerifier.verify(directory: root).isClean)
        #expect(try StreamInspector.inspect(directory: root).segments.allSatisfy(\.readable))

        // A crash now (the files as they are): recovery finds every message and no damage.
        let crashed = try StreamCopy(of: root)
        let recovered = try FileStream(directory: crashed.path)
        #expect(recovered.recovery.isClean, "\(recovered.recovery)")
        try RecoveryTests.expectIntact(recovered, sequences: 1...20)
        #expect(try RecoveryTests.frames(RecoveryTests.segmentPath(crashed.path)).last.map { Int64($0.offset + $0.length) } == logEnd)
        recovered.close()

        // A frame torn in the zeroed space is cut (reported), what came before is intact.
        let torn = try StreamCopy(of: root)
        let tornFile = try POSIXFileSystem().open(RecoveryTests.segmentPath(torn.path), create: false)
        try tornFile.write(Array(Data(contentsOf: URL(fileURLWithPath: segment))[Int(SegmentHeader.size)..<Int(SegmentHeader.size) + 40]), at: logEnd)
        let cut = try FileStream(directory: torn.path)
        #expect(cut.recovery.truncatedTail?.offset == logEnd)
        try RecoveryTests.expectIntact(cut, sequences: 1...20)
        cut.close()

        // A clean close trims the zeros.
        stream.close()
        #expect(try POSIXFileSystem().open(segment, create: false).size() == logEnd)
    }

    @Test func damagedSegmentHeaderCostsItsSegment() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let names = try await RecoveryTests.makeSegmentedStream(in: directory)
        #expect(names.count > 3)
        let second = try #require(SegmentHeader.firstSequence(fileName: names[1]))
        let third = try #require(SegmentHeader.firstSequence(fileName: names[2]))
        let path = directory.stream() + "/segments/" + names[1]
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[3] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.removeItem(atPath: directory.stream() + "/index")
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.recovery.damagedRegions.first?.lostSequences == second...(third - 1))
        #expect(reopened.state.messages == 200 - (third - second))
        #expect(try reopened.message(sequence: second) == nil)
        #expect(try reopened.message(sequence: third)?.subject == "h")
        #expect(try reopened.message(sequence: second - 1)?.subject == "h")
    }

    /// Synced frames the index knew of are gone (a deleted active segment, a log cut below the marker's
    /// `unsyncedFrom`): with sync `always` those messages may have been acknowledged, so they are reported as a
    /// damaged region with their sequences, not passed off as a torn tail. A cut of frames whose sync never
    /// returned stays a torn tail (PipelinedSyncTests).
    @Test func syncedMessagesMissingFromTheLogAreReportedAsLost() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let names = try await RecoveryTests.makeSegmentedStream(in: directory)
        let active = try #require(SegmentHeader.firstSequence(fileName: names.last!))

        let deleted = try StreamCopy(of: directory.stream())
        try FileManager.default.removeItem(atPath: deleted.path + "/segments/" + names.last!)
        let afterDelete = try FileStream(directory: deleted.path)
        #expect(afterDelete.recovery.damagedRegions.map(\.lostSequences) == [active...200], "\(afterDelete.recovery)")
        #expect(afterDelete.recovery.damagedRegions.first?.reason.contains("missing") == true)
        #expect(afterDelete.state.messages == active - 1 && afterDelete.state.lastSequence == 200)
        afterDelete.close()

        let cut = try StreamCopy(of: directory.stream())
        let last = try #require(try RecoveryTests.frames(cut.path + "/segments/" + names.last!).last)
        try POSIXFileSystem().open(cut.path + "/segments/" + names.last!, create: false).truncate(to: Int64(last.offset + 3))
        let afterCut = try FileStream(directory: cut.path)
        #expect(afterCut.recovery.damagedRegions.map(\.lostSequences) == [200...200], "\(afterCut.recovery)")
        #expect(afterCut.recovery.damagedRegions.first?.reason.contains("synced") == true)
        afterCut.close()
    }

    @Test func notAStreamAndLocked() throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        #expect { _ = try FileStream(directory: directory.path) } throws: { error in
            guard case StoreError.notAStream = error else { return false }
            return true
        }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        #expect { _ = try FileStream(directory: directory.stream()) } throws: { error in
            guard case StoreError.locked = error else { return false }
            return true
        }
        #expect { _ = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s")) } throws: { error in
            guard case StoreError.streamExists = error else { return false }
            return true
        }
        #expect(throws: StoreError.self) { _ = try FileStream.create(at: directory.stream("bad"), config: StreamConfig(name: "a.b")) }
        stream.close()
        _ = try FileStream(directory: directory.stream())
    }
}
