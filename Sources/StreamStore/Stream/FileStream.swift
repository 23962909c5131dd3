import Foundation
import LMDB
import Subjects
import Zstd

/// A stream stored on disk: a zstd-compressed, segmented, append-only log with LMDB indexes.
///
/// Guarantees:
/// - **Durability**: with sync `always` (the default) an append returns only once its frame is on disk;
///   the log is written and synced before the index commits (Specs/WritePath.md), so a crash at any
///   point loses no acknowledged append and leaves nothing half-applied.
/// - **Group commit**: one writer thread turns every append waiting at once into one frame, one write
///   and one sync.
/// - **Isolation**: reads run on the caller's thread against an LMDB snapshot and never block the writer.
/// - **Recovery**: opening cuts torn tails, indexes what the index lacks, rebuilds a missing or damaged
///   index from the log, and reports damage in ``recovery`` (Specs/Recovery.md).
public final class FileStream: @unchecked Sendable {
    /// Writer-thread operations.
    enum Operation {
        case append(AppendRequest, size: UInt64, completion: @Sendable (Result<AppendResult, StoreError>) -> Void)
        case purge(PurgeRequest, completion: @Sendable (Result<UInt64, StoreError>) -> Void)
        case delete(UInt64, completion: @Sendable (Result<Bool, StoreError>) -> Void)
        case compact(CompactionOptions, completion: @Sendable (Result<CompactionReport, StoreError>) -> Void)
        case updateConfig(StreamConfig, completion: @Sendable (Result<Void, StoreError>) -> Void)
        case sync(completion: @Sendable (Result<Void, StoreError>) -> Void)
    }

    public let directory: String
    let paths: StreamPaths
    let fileSystem: any FileSystem
    let index: IndexStore
    let readers: SegmentReaders
    let clock: @Sendable () -> Int64
    /// What open found and mended.
    public let recovery: RecoveryReport

    private let queue = WriteQueue<Operation>()
    private let stateLock = NSLock()
    private var publishedState: StreamState
    private var publishedConfig: StreamConfig
    private var lockFile: Int32
    private var writerThread: Thread?
    private let writerDone = DispatchSemaphore(value: 0)

    // Owned by the writer thread after init.
    var config: StreamConfig
    var segments: [UInt64]
    var active: any FileHandle
    var activeFirst: UInt64
    var activeSize: Int64
    var compressor: Compressor?
    var lastSync = Date()
    var unsynced = false
    var failure: StoreError?

    /// The stream's state as of the last committed write.
    public var state: StreamState { stateLock.lock(); defer { stateLock.unlock() }; return publishedState }
    /// The stream's configuration.
    public var currentConfig: StreamConfig { stateLock.lock(); defer { stateLock.unlock() }; return publishedConfig }

    /// Creates a new stream in `directory` (which must not hold one).
    public static func create(at directory: String, config: StreamConfig, fileSystem: any FileSystem = POSIXFileSystem(),
                              clock: @escaping @Sendable () -> Int64 = FileStream.systemClock) throws -> FileStream {
        try config.validate()
        let paths = StreamPaths(root: directory)
        if fileSystem.exists(paths.config) { throw StoreError.streamExists(config.name) }
        do {
            try fileSystem.createDirectory(directory)
            try fileSystem.createDirectory(paths.segments)
            try fileSystem.createDirectory(paths.index)
            try writeSegmentHeader(fileSystem: fileSystem, path: paths.segment(1), firstSequence: 1)
            try fileSystem.syncDirectory(paths.segments)
            try writeConfig(config, paths: paths, fileSystem: fileSystem)
        } catch let error as FileSystemError {
            throw StoreError.wrap(error)
        } catch {
            throw StoreError.invalidConfig("\(error)")
        }
        return try FileStream(directory: directory, fileSystem: fileSystem, clock: clock)
    }

    /// Opens an existing stream, recovering it as Specs/Recovery.md says.
    public convenience init(directory: String, fileSystem: any FileSystem = POSIXFileSystem(),
                            clock: @escaping @Sendable () -> Int64 = FileStream.systemClock) throws {
        try self.init(opening: directory, fileSystem: fileSystem, clock: clock)
    }

    private init(opening directory: String, fileSystem: any FileSystem, clock: @escaping @Sendable () -> Int64) throws {
        let paths = StreamPaths(root: directory)
        guard fileSystem.exists(paths.config) else { throw StoreError.notAStream(path: directory) }
        let config = try FileStream.readConfig(paths: paths)
        let lockFile = try FileStream.acquireLock(paths.lock)
        var opened: Recovered
        do {
            opened = try Recovery(paths: paths, fileSystem: fileSystem, config: config, clock: clock).run()
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
        self.config = config
        self.publishedConfig = config
        self.segments = opened.segments
        self.active = opened.active
        self.activeFirst = opened.segments.last!
        self.activeSize = opened.activeSize
        self.publishedState = opened.state
        self.compressor = config.compression ? Compressor(level: config.compressionLevel) : nil
        let thread = Thread { [unowned self] in self.runWriter() }
        thread.name = "strata-writer-\(config.name)"
        thread.stackSize = 1 << 20
        writerThread = thread
        thread.start()
    }

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
        guard writerThread != nil else { return }
        queue.close()
        writerDone.wait()
        writerThread = nil
        releaseLock()
    }

    // MARK: - Writes

    /// Appends one message; returns once it is committed (and on disk, with sync `always`).
    public func append(_ request: AppendRequest) async throws -> AppendResult {
        try FileStream.validate(request)
        let size = StoredMessage.accountedSize(subject: request.subject.utf8.count, headers: request.headers.count, payload: request.payload.count)
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<AppendResult, StoreError>, Never>) in
            if !queue.enqueue(.append(request, size: size, completion: { continuation.resume(returning: $0) })) {
                continuation.resume(returning: .failure(StoreError.closed))
            }
        }
        return try result.get()
    }

    /// Appends without waiting: `completion` runs on the writer thread once the append is committed.
    public func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendResult, StoreError>) -> Void) {
        do { try FileStream.validate(request) } catch { completion(.failure(StoreError.wrap(error))); return }
        let size = StoredMessage.accountedSize(subject: request.subject.utf8.count, headers: request.headers.count, payload: request.payload.count)
        if !queue.enqueue(.append(request, size: size, completion: completion)) { completion(.failure(StoreError.closed)) }
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

    /// Syncs the log and the index now, whatever the sync policy.
    public func sync() async throws {
        try await submit { .sync(completion: $0) }
    }

    /// Rewrites sealed segments without their removed records (Specs/Recovery.md, "Compaction").
    public func compact(_ options: CompactionOptions = CompactionOptions()) async throws -> CompactionReport {
        try await submit { .compact(options, completion: $0) }
    }

    private func submit<T: Sendable>(_ make: (@escaping @Sendable (Result<T, StoreError>) -> Void) -> Operation) async throws -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, StoreError>, Never>) in
            if !queue.enqueue(make({ continuation.resume(returning: $0) })) {
                continuation.resume(returning: .failure(StoreError.closed))
            }
        }
        return try result.get()
    }

    static func validate(_ request: AppendRequest) throws {
        do { try Subject.validateLiteral(request.subject) } catch { throw StoreError.invalidSubject(request.subject, error) }
        if request.subject.utf8.count > IndexStore.maxKeyBytes {
            throw StoreError.invalidConfig("subject is \(request.subject.utf8.count) bytes; the store takes at most \(IndexStore.maxKeyBytes)")
        }
        if let id = request.messageID, id.utf8.count > IndexStore.maxKeyBytes {
            throw StoreError.invalidConfig("message id is \(id.utf8.count) bytes; the store takes at most \(IndexStore.maxKeyBytes)")
        }
    }

    func publish(state: StreamState) {
        stateLock.lock()
        publishedState = state
        stateLock.unlock()
    }

    func publish(config: StreamConfig) {
        stateLock.lock()
        publishedConfig = config
        stateLock.unlock()
    }

    // MARK: - Writer thread

    private func runWriter() {
        while true {
            let (operations, closed) = queue.take(until: nextWakeup())
            var batch: [PendingAppend] = []
            var batchBytes = 0
            for operation in operations {
                if case .append(let request, let size, let completion) = operation {
                    batch.append(PendingAppend(request: request, size: size, completion: completion))
                    batchBytes += Int(size)
                    if batch.count >= FileStream.maxBatchRecords || batchBytes >= FileStream.maxBatchBytes {
                        commit(batch)
                        batch.removeAll(keepingCapacity: true)
                        batchBytes = 0
                    }
                    continue
                }
                if !batch.isEmpty { commit(batch); batch.removeAll(keepingCapacity: true); batchBytes = 0 }
                perform(operation)
            }
            if !batch.isEmpty { commit(batch) }
            runTimers()
            if closed && operations.isEmpty { break }
        }
        try? active.sync()
        try? index.checkpoint()
        writerDone.signal()
    }

    static let maxBatchRecords = 4096
    static let maxBatchBytes = 1 << 20

    /// When the writer must wake up with no work: for an interval sync or the next expiry.
    private func nextWakeup() -> Date? {
        var deadline: Date?
        if unsynced, case .interval(let ms) = config.sync {
            deadline = lastSync.addingTimeInterval(Double(ms) / 1000)
        }
        if let expiry = Retention.nextExpiry(config: config, state: state) {
            let wait = Double(expiry - clock()) / 1e9
            let at = Date().addingTimeInterval(max(0.001, min(wait, 3600)))
            deadline = min(deadline ?? at, at)
        }
        return deadline
    }

    private func runTimers() {
        if unsynced, case .interval(let ms) = config.sync, Date().timeIntervalSince(lastSync) * 1000 >= Double(ms) {
            try? syncNow()
        }
        if let expiry = Retention.nextExpiry(config: config, state: state), expiry <= clock() {
            _ = try? writeRemovals { writer in try Retention.expire(now: clock(), config: config, target: &writer) }
        }
    }

    func syncNow() throws {
        do { try active.sync() } catch { throw StoreError.wrap(error) }
        try index.checkpoint()
        unsynced = false
        lastSync = Date()
    }

    private func perform(_ operation: Operation) {
        switch operation {
        case .append: break
        case .purge(let request, let completion):
            completion(StoreError.capture { try writeRemovals { writer in try Purge.run(request, writer: &writer) } })
        case .delete(let sequence, let completion):
            completion(StoreError.capture {
                try writeRemovals { writer in try writer.remove(sequence) != nil }
            })
        case .compact(let options, let completion):
            completion(StoreError.capture { try compactSealedSegments(options) })
        case .updateConfig(let newConfig, let completion):
            completion(StoreError.capture {
                try FileStream.writeConfig(newConfig, paths: paths, fileSystem: fileSystem)
                config = newConfig
                compressor = newConfig.compression ? Compressor(level: newConfig.compressionLevel) : nil
                publish(config: newConfig)
                _ = try writeRemovals { writer in
                    try Retention.enforceLimits(config: newConfig, target: &writer)
                    try Retention.expire(now: clock(), config: newConfig, target: &writer)
                }
            })
        case .sync(let completion):
            completion(StoreError.capture { try syncNow() })
        }
    }
}

struct PendingAppend {
    var request: AppendRequest
    var size: UInt64
    var completion: @Sendable (Result<AppendResult, StoreError>) -> Void
}
