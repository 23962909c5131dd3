#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
import Dispatch
#else
import Foundation
#endif
import Platform
import LMDB
import Subjects
import Zstd

/// A stream stored on disk: a zstd-compressed, segmented, append-only log with LMDB indexes.
///
/// Guarantees:
/// - **Durability**: with sync `always` (the default) an append returns only once its frame is on disk.
///   A write that removes messages is synced before its index commits; an append batch may be pipelined
///   (indexed first, synced by a sync thread while the next batch is built), and no read sees it before
///   its sync returns (Specs/WritePath.md). A crash at any point loses no acknowledged append and leaves
///   nothing half-applied.
/// - **Group commit**: one writer thread turns every append waiting at once into one frame, one write
///   and one sync.
/// - **Isolation**: reads run on the caller's thread against an LMDB snapshot and never block the writer;
///   they are bounded by the durable watermark (the published state's last sequence).
/// - **Recovery**: opening cuts torn tails, indexes what the index lacks, rebuilds a missing or damaged
///   index from the log, and reports damage in ``recovery`` (Specs/Recovery.md).
public final class FileStream: @unchecked Sendable {
    public let directory: String
    let paths: StreamPaths
    let fileSystem: any FileSystem
    let index: IndexStore
    let readers: SegmentReaders
    let clock: @Sendable () -> Int64
    /// What open found and mended.
    public let recovery: RecoveryReport

    let shared: SharedStreamState
    /// Nil for a stream opened with ``openReadOnly(directory:fileSystem:)``.
    let writer: StreamWriter?
    private let readOnlyQueue = WriteQueue<StreamWriter.Operation>()
    private var queue: WriteQueue<StreamWriter.Operation> { writer?.queue ?? readOnlyQueue }
    /// The error for a write the queue refused: the stream is read-only, or closed.
    private var refusal: StoreError { writer == nil ? .readOnly : .closed }
    private var lockFile: Int32
    private let closeLock = Lock()

    /// The stream's state as of the last committed write.
    public var state: StreamState { shared.state }
    /// The stream's configuration.
    public var currentConfig: StreamConfig { shared.config }

    /// Creates a new stream in `directory` (which must not hold one), with `files` (name and bytes) beside its
    /// own (the broker's `jetstream.json`). The stream is made in a staging directory beside `directory`
    /// (`.creating-<name>-<ns>`), its files written without a sync each, the file system synced once (syncfs),
    /// and the staging directory renamed into place and its parent synced: two device flushes, and the stream
    /// is there whole or not at all after a crash (Specs/WritePath.md, "Creating a stream").
    public static func create(at directory: String, config: StreamConfig, files: [(name: String, bytes: [UInt8])] = [],
                              fileSystem: any FileSystem = POSIXFileSystem(),
                              clock: @escaping @Sendable () -> Int64 = FileStream.systemClock) throws -> FileStream {
        try config.validate()
        let paths = StreamPaths(root: directory)
        if fileSystem.exists(paths.config) || fileSystem.exists(directory) { throw StoreError.streamExists(config.name) }
        let parent = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let staging = (parent.isEmpty ? "." : parent) + "/" + Self.stagingPrefix + config.name + "-\(clock())"
        let staged = StreamPaths(root: staging)
        do {
            try fileSystem.createDirectory(staging)
            try fileSystem.createDirectory(staged.segments)
            try fileSystem.createDirectory(staged.index)
            try StreamFiles.writeSegmentHeader(fileSystem: fileSystem, path: staged.segment(1), firstSequence: 1, sync: false)
            try StreamFiles.writeConfig(config, paths: staged, fileSystem: fileSystem, sync: false)
            for file in files { try StreamFiles.write(file.bytes, to: staging + "/" + file.name, fileSystem: fileSystem) }
            try fileSystem.syncFileSystem(containing: staging)
            try fileSystem.rename(staging, to: directory)
            try fileSystem.syncDirectory(parent.isEmpty ? "." : parent)
        } catch let error as FileSystemError {
            // (try?: a staging directory left behind is removed at the broker's next start)
            try? FileManager.default.removeItem(atPath: staging)
            throw StoreError.wrap(error)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw StoreError.invalidConfig("\(error)")
        }
        return try FileStream(directory: directory, fileSystem: fileSystem, clock: clock)
    }

    /// Names of stream directories being created (never a stream name: those hold no '.').
    public static let stagingPrefix = ".creating-"

    /// Opens an existing stream, recovering it as Specs/Recovery.md says.
    public convenience init(directory: String, fileSystem: any FileSystem = POSIXFileSystem(),
                            clock: @escaping @Sendable () -> Int64 = FileStream.systemClock) throws {
        try self.init(opening: directory, fileSystem: fileSystem, clock: clock, sequenceFloor: 0)
    }

    /// Opens an existing stream that continues `statistics` (an on-demand stream opened again).
    convenience init(directory: String, fileSystem: any FileSystem, statistics: WriteStatistics) throws {
        try self.init(opening: directory, fileSystem: fileSystem, clock: FileStream.systemClock, sequenceFloor: 0, statistics: statistics)
    }

    /// Opens a stream whose last sequence is at least `sequenceFloor` (repair: sequences that a lost
    /// index knew are never given again).
    convenience init(directory: String, fileSystem: any FileSystem, sequenceFloor: UInt64) throws {
        try self.init(opening: directory, fileSystem: fileSystem, clock: FileStream.systemClock, sequenceFloor: sequenceFloor)
    }

    private init(opening directory: String, fileSystem: any FileSystem, clock: @escaping @Sendable () -> Int64,
                 sequenceFloor: UInt64, statistics: WriteStatistics = WriteStatistics()) throws {
        let openedAt = DispatchTime.now().uptimeNanoseconds
        let paths = StreamPaths(root: directory)
        guard fileSystem.exists(paths.config) else { throw StoreError.notAStream(path: directory) }
        let config = try StreamFiles.readConfig(paths: paths)
        let lockFile = try StreamFiles.acquireLock(paths.lock)
        var opened: Recovered
        do {
            opened = try Recovery(paths: paths, fileSystem: fileSystem, config: config, clock: clock, sequenceFloor: sequenceFloor).run()
        } catch {
            Glibc.close(lockFile)
            throw error
        }
        self.directory = directory
        self.paths = paths
        self.fileSystem = fileSystem
        self.clock = clock
        self.index = opened.index
        self.recovery = opened.report
        self.readers = SegmentReaders(fileSystem: fileSystem, paths: paths)
        self.lockFile = lockFile
        self.shared = SharedStreamState(state: opened.state, config: config, statistics: statistics)
        self.writer = StreamWriter(paths: paths, fileSystem: fileSystem, index: opened.index, readers: readers,
                                   clock: clock, shared: shared, config: config, segments: opened.segments,
                                   active: opened.active, activeSize: opened.activeSize)
        shared.statistics.opened(seconds: Double(DispatchTime.now().uptimeNanoseconds - openedAt) / 1e9)
        writer!.start()
    }

    /// The write path's figures since the stream was opened (Strata's own metrics).
    public var writeFigures: WriteFigures { shared.statistics.snapshot }

    /// Frames that reads have found damaged since the stream was opened (segment, offset), in log order: damage
    /// inside the log behind a valid index is found when it is read, not at start. `strata repair` quarantines it.
    public var framesFoundDamagedByReads: [(segment: UInt64, offset: UInt64)] { readers.damagedFrames }

    /// Opens a stream for reading only: no lock (a broker may hold the stream), no recovery, no writer.
    /// Reads see the index as the last commit left it; every write fails with ``StoreError/readOnly``.
    /// The offline tools' `inspect` and `verify` use this.
    public static func openReadOnly(directory: String, fileSystem: any FileSystem = POSIXFileSystem()) throws -> FileStream {
        let paths = StreamPaths(root: directory)
        guard fileSystem.exists(paths.config) else { throw StoreError.notAStream(path: directory) }
        let config = try StreamFiles.readConfig(paths: paths)
        let index = try IndexStore(path: paths.index, readOnly: true)
        let state = try index.read { try $0.persistentState()?.stream } ?? StreamState()
        return FileStream(readOnly: directory, paths: paths, fileSystem: fileSystem, index: index, config: config, state: state)
    }

    private init(readOnly directory: String, paths: StreamPaths, fileSystem: any FileSystem, index: IndexStore,
                 config: StreamConfig, state: StreamState) {
        self.directory = directory
        self.paths = paths
        self.fileSystem = fileSystem
        self.clock = FileStream.systemClock
        self.index = index
        self.recovery = RecoveryReport()
        self.readers = SegmentReaders(fileSystem: fileSystem, paths: paths)
        self.lockFile = -1
        self.shared = SharedStreamState(state: state, config: config)
        self.writer = nil
        readOnlyQueue.close()
    }

    /// True when opened with ``openReadOnly(directory:fileSystem:)``.
    public var isReadOnly: Bool { writer == nil }

    deinit {
        close()
        releaseLock()
    }

    private func releaseLock() {
        if lockFile >= 0 { Glibc.close(lockFile) }
        lockFile = -1
    }

    /// The current time in nanoseconds since the epoch.
    public static let systemClock: @Sendable () -> Int64 = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Stops the writer after it has finished what is queued, syncs log and index, and releases the lock.
    /// Appends after close fail with ``StoreError/closed``.
    public func close() {
        closeLock.lock()
        defer { closeLock.unlock() }
        writer?.stop()
        releaseLock()
    }

    // MARK: - Writes

    /// Appends one message; returns once it is committed (and on disk, with sync `always`).
    public func append(_ request: AppendRequest) async throws -> AppendResult {
        try FileStream.validate(request)
        let size = StoredMessage.fileAccountedSize(subject: request.subject.utf8.count, headers: request.headers.count, payload: request.payload.count)
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<AppendResult, StoreError>, Never>) in
            if !queue.enqueue(.append(request, size: size, completion: { continuation.resume(returning: $0) }), bytes: Int(size)) {
                continuation.resume(returning: .failure(refusal))
            }
        }
        return try result.get()
    }

    /// Appends several messages with one hand-off to the writer (they may still be split across frames);
    /// returns each one's outcome, in order. Cheaper per message than separate calls.
    public func append(contentsOf requests: [AppendRequest]) async -> [Result<AppendResult, StoreError>] {
        guard !requests.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            append(contentsOf: requests) { continuation.resume(returning: $0) }
        }
    }

    /// Completions of appends, removals and consumer records run on the stream's writer or sync threads:
    /// they must not wait for the stream (its blocking `saveConsumer(_:)` or `deleteConsumer(named:)`), only
    /// hand work on.
    /// Appends several messages with one hand-off to the writer, without waiting: `completion` runs once
    /// (on the writer thread or, for a pipelined batch, a sync thread; at once if nothing could be queued) with each one's outcome, in order.
    public func append(contentsOf requests: [AppendRequest],
                       completion: @escaping @Sendable ([Result<AppendResult, StoreError>]) -> Void) {
        guard !requests.isEmpty else { completion([]); return }
        let collector = BatchCollector(count: requests.count, completion: completion)
        var operations: [StreamWriter.Operation] = []
        operations.reserveCapacity(requests.count)
        var bytes = 0
        for (i, request) in requests.enumerated() {
            do {
                try FileStream.validate(request)
            } catch {
                collector.complete(i, .failure(StoreError.wrap(error)))
                continue
            }
            let size = StoredMessage.fileAccountedSize(subject: request.subject.utf8.count, headers: request.headers.count, payload: request.payload.count)
            operations.append(.append(request, size: size, completion: { collector.complete(i, $0) }))
            bytes += Int(size)
        }
        if !queue.enqueue(contentsOf: operations, bytes: bytes) {
            for operation in operations { if case .append(_, _, let completion) = operation { completion(.failure(refusal)) } }
        }
    }

    /// Appends without waiting: `completion` runs on the writer thread (or a sync thread) once the append is durable.
    public func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendResult, StoreError>) -> Void) {
        do { try FileStream.validate(request) } catch { completion(.failure(StoreError.wrap(error))); return }
        let size = StoredMessage.fileAccountedSize(subject: request.subject.utf8.count, headers: request.headers.count, payload: request.payload.count)
        if !queue.enqueue(.append(request, size: size, completion: completion), bytes: Int(size)) { completion(.failure(refusal)) }
    }

    /// Removes messages as Specs/Retention.md ("Purge") says; returns how many were removed.
    public func purge(_ request: PurgeRequest = PurgeRequest()) async throws -> UInt64 {
        if let filter = request.filter {
            do { try Subject.validateFilter(filter) } catch { throw StoreError.invalidSubject(filter, error) }
        }
        return try await submit { .purge(request, completion: $0) }
    }

    /// Removes one message; returns false when the sequence is not held.
    public func delete(sequence: UInt64) async throws -> Bool {
        try await submit { .delete(sequence, completion: $0) }
    }

    /// Changes the stream's limits (applied at once) and write settings.
    public func update(config newConfig: StreamConfig) async throws {
        try newConfig.validate()
        guard newConfig.name == currentConfig.name else { throw StoreError.invalidConfig("a stream cannot be renamed") }
        try await submit { .updateConfig(newConfig, completion: $0) }
    }

    /// Removes the held ones of `sequences` without waiting; `completion` runs on the writer thread with how
    /// many were held. Removals queued while the writer is busy are applied together: one removal record,
    /// one frame, one sync (acknowledgements on interest and work-queue streams).
    public func remove(_ sequences: [UInt64], completion: @escaping @Sendable (Result<UInt64, StoreError>) -> Void) {
        guard !sequences.isEmpty else { completion(.success(0)); return }
        if !queue.enqueue(.remove(sequences, completion: completion)) { completion(.failure(refusal)) }
    }

    /// Stores (or replaces) a consumer record through the writer (no LMDB write transaction on the
    /// caller's thread); `completion` runs on the writer thread once it is committed, and with `durable`
    /// once the index is synced too (an AckSync's reply waits for that). Without `durable` it survives a
    /// process crash; after an operating-system crash the last records may be older, which costs
    /// redeliveries, never lost messages.
    public func saveConsumer(_ record: ConsumerRecord, durable: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        if !queue.enqueue(.saveConsumer(record, durable: durable, completion: completion)) { completion(.failure(refusal)) }
    }

    /// Removes a consumer record through the writer; `completion` gets false when there was none.
    public func deleteConsumer(named name: String, completion: @escaping @Sendable (Result<Bool, StoreError>) -> Void) {
        if !queue.enqueue(.deleteConsumer(name, completion: completion)) { completion(.failure(refusal)) }
    }

    /// Stores (or replaces) a consumer record and waits for it (offline tools and tests; the broker uses
    /// the completion form).
    public func saveConsumer(_ record: ConsumerRecord) throws {
        try FileStream.wait { saveConsumer(record, durable: true, completion: $0) }
    }

    /// Removes a consumer record and waits; returns false when there was none.
    @discardableResult
    public func deleteConsumer(named name: String) throws -> Bool {
        try FileStream.wait { deleteConsumer(named: name, completion: $0) }
    }

    private static func wait<T: Sendable>(_ start: (@escaping @Sendable (Result<T, StoreError>) -> Void) -> Void) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        start { result in box.result = result; done.signal() }
        done.wait()
        return try box.result!.get()
    }

    /// The removal count now, and whether a removal since `count` may have touched `range` (for readers
    /// that hold messages read earlier: see ``RemovalHistory``).
    public func removals(since count: UInt64, touching range: ClosedRange<UInt64>) -> (count: UInt64, touched: Bool) {
        shared.removals(since: count, touching: range)
    }

    /// True while the writer holds background work for a timer that closing the stream would drop
    /// (an interval sync, a reclamation pass, an index compaction check).
    var hasDeferredWork: Bool { shared.deferredWork }

    /// True while operations wait in the writer's queue.
    var hasQueuedWork: Bool { writer?.queue.hasPending ?? false }

    /// Why the stream refuses writes, once it does: a failed sync or a failed cut-back poisons it until it
    /// is reopened (and recovery has checked its log). Nil while healthy.
    public var failure: StoreError? { shared.failure }

    /// The last failure of the writer's background work (interval sync, expiry, id pruning, reclamation,
    /// index compaction) that did not poison the stream; it is tried again on a later pass.
    public var backgroundError: String? { shared.backgroundError }

    /// Bytes of appends queued for the writer and not yet taken (for backpressure).
    public var queuedBytes: Int { queue.pendingBytes }

    /// Syncs the log and the index now, whatever the sync policy.
    public func sync() async throws {
        try await submit { .sync(completion: $0) }
    }

    /// Rewrites sealed segments without their removed records (Specs/Recovery.md, "Compaction").
    public func compact(_ options: CompactionOptions = CompactionOptions()) async throws -> CompactionReport {
        try await submit { .compact(options, completion: $0) }
    }

    private func submit<T: Sendable>(_ make: (@escaping @Sendable (Result<T, StoreError>) -> Void) -> StreamWriter.Operation) async throws -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, StoreError>, Never>) in
            if !queue.enqueue(make({ continuation.resume(returning: $0) })) {
                continuation.resume(returning: .failure(refusal))
            }
        }
        return try result.get()
    }

    /// A result handed from the writer thread to a waiting caller.
    private final class ResultBox<T>: @unchecked Sendable { var result: Result<T, StoreError>? }

    static func validate(_ request: AppendRequest) throws {
        do { try Subject.validateLiteral(request.subject) } catch { throw StoreError.invalidSubject(request.subject, error) }
        if request.subject.utf8.count > IndexStore.maxKeyBytes {
            throw StoreError.invalidConfig("subject is \(request.subject.utf8.count) bytes; the store takes at most \(IndexStore.maxKeyBytes)")
        }
        if let id = request.messageID, id.utf8.count > IndexStore.maxKeyBytes {
            throw StoreError.invalidConfig("message id is \(id.utf8.count) bytes; the store takes at most \(IndexStore.maxKeyBytes)")
        }
    }
}
