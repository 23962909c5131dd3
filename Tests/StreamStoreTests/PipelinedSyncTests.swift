import Foundation
import LMDB
import Testing
@testable import StreamStore

/// The pipelined sync (Specs/WritePath.md, "Pipelined sync"): append batches committed to the index while
/// their sync is outstanding are seen by no reader and completed by no one until the sync returns; a failed
/// sync fails them and every later one and leaves exactly the acknowledged messages; a power cut that left
/// the index on disk but not their frames is caught on open. Syncs are held by the fault-injecting file
/// system, so each state is looked at while it lasts, without timing.
@Suite struct PipelinedSyncTests {
    /// A stream with message "a" on `f` acknowledged (a lone batch: synced by the writer), then one hand-off
    /// of more than a batch: 4,096 messages "b1"… on `f` (sequences 2…4097; pipelined, as more follows) and
    /// "c" on the new subject `g` (4098; pipelined, as a sync is outstanding), both committed to the index
    /// with their syncs held.
    struct HeldBatches {
        static let b = StreamWriter.maxBatchRecords
        static let c = UInt64(b) + 2
        let directory = TemporaryDirectory()
        let fileSystem = FaultInjectingFileSystem()
        let stream: FileStream
        let results: Task<[Result<AppendResult, StoreError>], Never>

        init() async throws {
            // Uncompressed: a compressed stream would store its zstd dictionary (and sync it) in this batch.
            var config = StreamConfig(name: "s")
            config.compression = false
            stream = try FileStream.create(at: directory.stream(), config: config, fileSystem: fileSystem)
            #expect(try await stream.append(request("f", "a")).sequence == 1)
            let pipeline = try #require(stream.writer?.pipeline)
            #expect(pipeline.handedOverCount == 0)
            fileSystem.holdSyncs()
            let stream = self.stream
            let requests = (1...Self.b).map { request("f", "b\($0)") } + [request("g", "c")]
            results = Task { await stream.append(contentsOf: requests) }
            let fileSystem = self.fileSystem
            await Self.offThePool { fileSystem.waitForHeldSync() }
            await Self.offThePool { pipeline.waitUntilHandedOver(2) }
        }

        var b: [Result<AppendResult, StoreError>] { get async { Array(await results.value.dropLast()) } }
        var c: Result<AppendResult, StoreError> { get async { await results.value.last! } }

        /// Runs a blocking wait on a thread of its own, not on one of the few the tasks need.
        static func offThePool(_ wait: @escaping @Sendable () -> Void) async {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                Thread { wait(); done.resume() }.start()
            }
        }
    }

    /// Every read answers with the durable state while the index already holds 4,097 more messages.
    static func expectOnlyTheDurableMessage(_ stream: FileStream) throws {
        #expect(stream.state.lastSequence == 1 && stream.state.messages == 1)
        #expect(try stream.message(sequence: 2) == nil && stream.message(sequence: HeldBatches.c) == nil)
        #expect(try stream.messages(from: 1, limit: 10).map(\.text) == ["a"])
        #expect(try stream.messages(from: 2, filter: "g", limit: 10).isEmpty)
        #expect(try stream.next(atOrAfter: 2) == nil)
        #expect(try stream.last(subject: "f")?.text == "a")
        #expect(try stream.last(subject: "g") == nil)
        #expect(try stream.last(subject: ">")?.text == "a")
        #expect(try stream.subjectCounts() == ["f": 1])
        #expect(try stream.count(filter: "f", in: 1...UInt64.max) == 1)
        #expect(try stream.count(filter: "*", in: 1...UInt64.max) == 1)
        #expect(try stream.count(filter: nil, in: 2...UInt64.max) == 0)
    }

    @Test func readersSeeNothingBeforeItsSyncReturns() async throws {
        let held = try await HeldBatches()
        let stream = held.stream
        // The index holds both (so what follows is the watermark at work, not a batch not yet written).
        #expect(try stream.index.read { try $0.persistentState()?.stream.lastSequence } == HeldBatches.c)
        try Self.expectOnlyTheDurableMessage(stream)

        held.fileSystem.releaseSyncs(failing: false)
        #expect(try await held.b.map { try $0.get().sequence } == Array(2...HeldBatches.c - 1))
        #expect(try await held.c.get().sequence == HeldBatches.c)
        let tail = ["b\(HeldBatches.b)", "c"]
        #expect(try stream.messages(from: HeldBatches.c - 1, limit: 10).map(\.text) == tail)
        #expect(try stream.last(subject: "f")?.text == "b\(HeldBatches.b)")
        #expect(try stream.subjectCounts() == ["f": UInt64(HeldBatches.b) + 1, "g": 1])
        stream.close()
        let reopened = try FileStream(directory: held.directory.stream())
        defer { reopened.close() }
        #expect(reopened.recovery.isClean, "\(reopened.recovery)")
        #expect(try reopened.messages(from: HeldBatches.c - 1, limit: 10).map(\.text) == tail)
        #expect(reopened.state.messages == HeldBatches.c)
    }

    /// A lone batch (nothing queued, no sync outstanding) is synced by the writer itself: no hand-off.
    @Test func aLoneBatchIsNotHandedOver() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        defer { stream.close() }
        for i in 1...5 { #expect(try await stream.append(request("f", "\(i)")).sequence == UInt64(i)) }
        #expect(stream.writer?.pipeline.handedOverCount == 0)
    }

    /// A sync that fails after a later batch was committed: both fail, readers never see them, the stream
    /// refuses writes, and reopened it holds exactly the acknowledged message; the failed sequences are not
    /// given to later messages.
    @Test func aFailedSyncFailsItsBatchAndEveryLaterOne() async throws {
        let held = try await HeldBatches()
        let stream = held.stream
        held.fileSystem.releaseSyncs(failing: true)
        for result in await held.b {
            guard case .failure(.io(let error)) = result else { Issue.record("a message of b was not failed by its sync"); return }
            #expect(error.operation.contains("fdatasync"))
        }
        // "c" failed with the same sync (if it was handed over before that sync began) or after it.
        switch await held.c {
        case .failure(.io), .failure(.needsRecovery): break
        default: Issue.record("c was not failed by the sync or the poisoned stream")
        }
        #expect(stream.failure != nil)
        try Self.expectOnlyTheDurableMessage(stream)
        await #expect(throws: StoreError.self) { _ = try await stream.append(request("f", "refused")) }
        stream.close()

        let reopened = try FileStream(directory: held.directory.stream())
        #expect(reopened.failure == nil)
        #expect(reopened.recovery.indexRebuiltBecause != nil)  // the index named frames the log no longer has
        #expect(try reopened.messages(from: 1, limit: 10).map(\.text) == ["a"])
        #expect(try reopened.subjectCounts() == ["f": 1])
        let next = try await reopened.append(request("f", "d"))
        #expect(next.sequence == HeldBatches.c + 1)
        reopened.close()
        let again = try FileStream(directory: held.directory.stream())
        defer { again.close() }
        #expect(again.recovery.isClean, "\(again.recovery)")
        #expect(try again.messages(from: 1, limit: 10).map(\.text) == ["a", "d"])
    }

    /// A power cut after the kernel wrote the index back but not the first pipelined frame: the store as
    /// the disk would hold it (copied while the syncs are held, that frame zeroed) opens with the frame
    /// found damaged, and every acknowledged message reads back; no read fails on the lost frame.
    @Test func aPowerCutThatLostAPipelinedFrameIsFoundOnOpen() async throws {
        let held = try await HeldBatches()
        let stream = held.stream
        let b = try #require(try stream.index.read { try $0.location(2) })
        let c = try #require(try stream.index.read { try $0.location(HeldBatches.c) })
        #expect(b.segment == c.segment && b.frameOffset < c.frameOffset)
        let copy = held.directory.stream("power-cut")
        try FileManager.default.copyItem(atPath: held.directory.stream(), toPath: copy)
        try FileManager.default.removeItem(atPath: copy + "/index/lock.mdb")
        let segment = try #require(FileHandle(forUpdatingAtPath: StreamPaths(root: copy).segment(b.segment)))
        try segment.seek(toOffset: b.frameOffset)
        segment.write(Data(repeating: 0, count: Int(c.frameOffset - b.frameOffset)))
        try segment.close()
        held.fileSystem.releaseSyncs(failing: false)
        _ = await held.results.value
        stream.close()

        let recovered = try FileStream(directory: copy)
        defer { recovered.close() }
        #expect(recovered.recovery.indexRebuiltBecause?.contains("before its sync returned") == true, "\(recovered.recovery)")
        #expect(try recovered.message(sequence: 1)?.text == "a")
        #expect(try recovered.message(sequence: 2) == nil)
        // "c" was never acknowledged; its frame is whole on this disk, so it is kept.
        #expect(try recovered.messages(from: 1, limit: 10).map(\.text) == ["a", "c"])
        #expect(recovered.recovery.damagedRegions.first?.lostSequences == 2...(HeldBatches.c - 1))
    }

    /// A version-3 index (28-byte marker, a `seq` key per message) opens without a rebuild and is upgraded
    /// to version 5 in place.
    @Test func formatThreeIndexOpensWithoutARebuild() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = directory.stream()
        let stream = try FileStream.create(at: root, config: StreamConfig(name: "s"))
        _ = await stream.append(contentsOf: (1...20).map { request("v", "\($0)") })
        stream.close()
        try SequenceBlockTests.downgradeToVersion4(root)
        try {
            let environment = try Environment(path: root + "/index", maxDatabases: 10, durability: .deferred)
            try environment.write { (txn) throws in
                let meta = try txn.openDatabase("meta", create: false)
                let marker = try #require(try txn.get(meta, key: IndexStore.markerKey).map { [UInt8]($0) })
                #expect(marker.count == 36)
                try txn.put(meta, key: IndexStore.markerKey, value: Array(marker.prefix(28)))
                try txn.put(meta, key: Array("format".utf8), value: [UInt8]([3, 0, 0, 0]))
            }
        }()
        let upgraded = try FileStream(directory: root)
        defer { upgraded.close() }
        #expect(upgraded.recovery.isClean && upgraded.recovery.messagesIndexed == 0, "\(upgraded.recovery)")
        #expect(try upgraded.messages(from: 1, limit: 100).map(\.text) == (1...20).map { "\($0)" })
        let format = try upgraded.index.environment.read { txn in
            try txn.get(upgraded.index.meta, key: Array("format".utf8)).map { $0.loadLE(UInt32.self, at: 0) }
        }
        #expect(format == IndexStore.formatVersion)
    }
}
