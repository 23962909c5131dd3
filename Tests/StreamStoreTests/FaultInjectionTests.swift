import Foundation
import Testing
@testable import StreamStore

/// Failed writes and syncs, short writes and a full disk, through the file-system seam: the append fails
/// with a clear error, the stream stays consistent (usable after a failed write; after a failed sync,
/// poisoned until it is reopened), and exactly the acknowledged records survive.
@Suite struct FaultInjectionTests {
    enum Case: String, CaseIterable, CustomStringConvertible {
        case failWrite, shortWrite, failSync
        var description: String { rawValue }
        var fault: FaultInjectingFileSystem.Fault {
            switch self {
            case .failWrite: .failWrite(n: 1, errno: EIO)
            case .shortWrite: .shortWrite(n: 1, bytes: 20)
            case .failSync: .failSync(n: 1)
            }
        }
    }

    @Test(arguments: Case.allCases, [true, false])
    func failedAppendLeavesStreamConsistent(fault: Case, compression: Bool) async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        var config = StreamConfig(name: "s")
        config.compression = compression
        let stream = try FileStream.create(at: directory.stream(), config: config, fileSystem: fileSystem)
        var acknowledged: [UInt64: String] = [:]
        for i in 1...5 { acknowledged[try await stream.append(request("f", "before \(i)")).sequence] = "before \(i)" }
        fileSystem.inject(fault.fault)
        await #expect { _ = try await stream.append(request("f", "lost")) } throws: { error in
            guard case StoreError.io(let e) = error else { return false }
            return e.operation.contains("injected")
        }
        #expect(stream.state.lastSequence == 5 && stream.state.messages == 5)
        var writable: FileStream = stream
        if fault == .failSync {
            // After a failed fdatasync the kernel may have dropped the pages and will not say so again: no
            // further write is acknowledged until the stream is reopened and its log checked.
            #expect(stream.failure != nil)
            await #expect { _ = try await stream.append(request("f", "refused")) } throws: { error in
                guard case StoreError.needsRecovery(let why) = error else { return false }
                return why.contains("sync")
            }
            await #expect(throws: StoreError.self) { try await stream.delete(sequence: 1) }
            stream.close()
            writable = try FileStream(directory: directory.stream())
            #expect(writable.failure == nil)
        }
        for i in 6...8 { acknowledged[try await writable.append(request("f", "after \(i)")).sequence] = "after \(i)" }
        // (A lone batch is synced before its index commits, so its failed sequence is used again; for a
        // pipelined batch, whose sequences the index held, see PipelinedSyncTests.)
        #expect(acknowledged.keys.sorted() == Array(1...8))
        writable.close()

        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.recovery.isClean, "\(reopened.recovery)")
        #expect(reopened.state.messages == 8)
        for (sequence, text) in acknowledged { #expect(try reopened.message(sequence: sequence)?.text == text) }
    }

    /// A new stream is made in a staging directory and renamed into place once its files are synced: a create
    /// that fails on the way (here the rename) leaves neither the stream nor the staging directory, and the
    /// name can be created afterwards.
    @Test func aFailedCreateLeavesNothingBehind() throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.inject(.failRename(n: 1))
        #expect(throws: StoreError.self) {
            _ = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), files: [("extra.json", Array("{}".utf8))],
                                      fileSystem: fileSystem)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        fileSystem.inject(nil)
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), files: [("extra.json", Array("{}".utf8))],
                                           fileSystem: fileSystem)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["s"])
        #expect(FileManager.default.contents(atPath: directory.stream() + "/extra.json") == Data("{}".utf8))
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        #expect(reopened.recovery.isClean, "\(reopened.recovery)")
    }

    @Test func fullDiskFailsAppendsUntilSpaceReturns() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), fileSystem: fileSystem)
        _ = try await stream.append(request("d", "one"))
        fileSystem.inject(.diskFull)
        for _ in 0..<3 {
            await #expect { _ = try await stream.append(request("d", "no room")) } throws: { ($0 as? StoreError)?.isDiskFull == true }
        }
        // Reads and deletes-in-index-only paths keep working while the disk is full.
        #expect(try stream.message(sequence: 1)?.text == "one")
        fileSystem.inject(nil)
        #expect(try await stream.append(request("d", "two")).sequence == 2)
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.state.messages == 2)
        #expect(try reopened.messages(from: 1, limit: 10).map(\.text) == ["one", "two"])
    }

    /// Appends refused by a full disk change the writer's subject entries (``SubjectTable``) inside a
    /// transaction that does not commit: the entries go back, so the counts and last sequences that follow are
    /// the committed ones, in the running stream and after a reopen.
    @Test func refusedAppendsLeaveTheSubjectEntriesAsCommitted() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), fileSystem: fileSystem)
        _ = try await stream.append(request("d", "one"))
        fileSystem.inject(.diskFull)
        for subject in ["d", "new", "d"] {
            await #expect { _ = try await stream.append(request(subject, "no room")) } throws: { ($0 as? StoreError)?.isDiskFull == true }
        }
        fileSystem.inject(nil)
        #expect(try await stream.append(request("new", "two")).sequence == 2)
        #expect(try await stream.append(request("d", "three")).sequence == 3)
        let expected = ["d": UInt64(2), "new": 1]
        #expect(try stream.subjectCounts() == expected)
        #expect(try stream.last(subject: "new")?.text == "two" && stream.state.subjects == 2)
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(try reopened.subjectCounts() == expected)
        #expect(try reopened.last(subject: "d")?.text == "three")
    }

    /// A file system gone read-only (EROFS on every change): the failed batch cannot be cut back either, so
    /// the stream refuses writes until it is reopened; reads go on, and the reopened stream has every
    /// acknowledged record and none of the refused ones.
    @Test func readOnlyFileSystemRefusesWritesUntilReopenedAndKeepsWhatWasAcknowledged() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), fileSystem: fileSystem)
        for i in 1...3 { _ = try await stream.append(request("r", "kept \(i)")) }
        fileSystem.inject(.readOnly)
        await #expect { _ = try await stream.append(request("r", "refused")) } throws: { error in
            guard case StoreError.io(let e) = error else { return false }
            return e.errno == EROFS
        }
        #expect(stream.failure != nil)
        fileSystem.inject(nil)
        await #expect { _ = try await stream.append(request("r", "still refused")) } throws: { error in
            guard case StoreError.needsRecovery(let why) = error else { return false }
            return why.contains("cut back")
        }
        #expect(try stream.messages(from: 1, limit: 10).map(\.text) == ["kept 1", "kept 2", "kept 3"])
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.state.messages == 3)
        #expect(try await reopened.append(request("r", "after")).sequence == 4)
        #expect(try reopened.messages(from: 1, limit: 10).map(\.text) == ["kept 1", "kept 2", "kept 3", "after"])
    }

    @Test func concurrentAppendsInOneFailedBatchAllFail() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), fileSystem: fileSystem)
        fileSystem.inject(.diskFull)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<50 { group.addTask { (try? await stream.append(request("c", "\(i)"))) != nil } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { !$0 })
        fileSystem.inject(nil)
        #expect(try await stream.append(request("c", "ok")).sequence == 1)
        stream.close()
    }

    /// A failed periodic sync (sync `interval`) is not swallowed: the stream is poisoned and says why.
    @Test func failedIntervalSyncPoisonsTheStream() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        var config = StreamConfig(name: "s")
        config.sync = .interval(milliseconds: 5)
        let stream = try FileStream.create(at: directory.stream(), config: config, fileSystem: fileSystem)
        _ = try await stream.append(request("i", "one"))
        try await stream.sync()
        fileSystem.inject(.failSync(n: 1))
        _ = try await stream.append(request("i", "two"))  // acknowledged before its interval sync
        // The writer's interval sync fails in the background; an explicit sync waits behind it.
        await #expect(throws: StoreError.self) { try await stream.sync() }
        let failure = try #require(stream.failure)
        #expect("\(failure)".contains("sync"))
        await #expect(throws: StoreError.self) { _ = try await stream.append(request("i", "three")) }
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.failure == nil)
        #expect(try await reopened.append(request("i", "three")).sequence == 3)
    }

    /// A batched removal (acks of a work queue) whose write or sync fails removes nothing: the messages are
    /// still held, before and after a reopen; after a failed write the stream goes on, after a failed sync
    /// it is poisoned until reopened.
    @Test(arguments: [Case.failWrite, Case.failSync])
    func aFailedRemovalRemovesNothing(fault: Case) async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let fileSystem = FaultInjectingFileSystem()
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), fileSystem: fileSystem)
        _ = await stream.append(contentsOf: (1...20).map { request("w", "\($0)") })
        fileSystem.inject(fault.fault)
        let result: Result<UInt64, StoreError> = await withCheckedContinuation { continuation in
            stream.remove(Array(1...10)) { continuation.resume(returning: $0) }
        }
        #expect(throws: StoreError.self) { try result.get() }
        #expect(stream.state.messages == 20 && stream.state.firstSequence == 1)
        #expect(try stream.messages(from: 1, limit: 100).count == 20)
        #expect((stream.failure != nil) == (fault == .failSync))
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        defer { reopened.close() }
        #expect(reopened.state.messages == 20)
        #expect(try reopened.messages(from: 1, limit: 100).map(\.text) == (1...20).map { "\($0)" })
    }
}
