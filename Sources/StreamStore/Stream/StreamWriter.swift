#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
import Dispatch
#else
import Foundation
#endif
import Platform
import Zstd

/// The single writer of a file stream: owns the active segment, the compressor and the write side of the
/// index, and runs every write on its own thread (group commit, Specs/WritePath.md). It holds no reference
/// to its ``FileStream``, so the stream can be released while the thread drains.
final class StreamWriter: @unchecked Sendable {
    /// Writer-thread operations.
    enum Operation {
        case append(AppendRequest, size: UInt64, completion: @Sendable (Result<AppendResult, StoreError>) -> Void)
        case purge(PurgeRequest, completion: @Sendable (Result<UInt64, StoreError>) -> Void)
        case delete(UInt64, completion: @Sendable (Result<Bool, StoreError>) -> Void)
        case compact(CompactionOptions, completion: @Sendable (Result<CompactionReport, StoreError>) -> Void)
        case updateConfig(StreamConfig, completion: @Sendable (Result<Void, StoreError>) -> Void)
        case sync(completion: @Sendable (Result<Void, StoreError>) -> Void)
        /// Removals queued together (acknowledgements on interest and work-queue streams) are applied in
        /// one write: one removal record, one frame, one sync.
        case remove([UInt64], completion: @Sendable (Result<UInt64, StoreError>) -> Void)
        /// Consumer records go through the writer, so that no LMDB write transaction runs on a caller's
        /// thread; records queued together share one transaction, and `durable` ones an index sync.
        case saveConsumer(ConsumerRecord, durable: Bool, completion: @Sendable (Result<Void, StoreError>) -> Void)
        case deleteConsumer(String, completion: @Sendable (Result<Bool, StoreError>) -> Void)
    }

    let queue = WriteQueue<Operation>()
    let paths: StreamPaths
    let fileSystem: any FileSystem
    let index: IndexStore
    let readers: SegmentReaders
    let clock: @Sendable () -> Int64
    let shared: SharedStreamState
    /// Syncs pipelined append batches (sync `always`) while the writer goes on (Specs/WritePath.md).
    let pipeline: SyncPipeline
    private let done = DispatchSemaphore(value: 0)
    private var running = false

    // Owned by the writer thread once started.
    /// The state as of the last committed write: ahead of the published (durable) state while pipelined
    /// batches wait for their sync.
    var state: StreamState
    var config: StreamConfig
    var segments: [UInt64]
    var active: any FileHandle
    var activeFirst: UInt64
    var activeSize: Int64
    /// End of the active segment's file: `activeSize` plus the zeroed space written ahead (Preallocation).
    var allocatedEnd: Int64
    var compressor: Compressor?
    var lastSync = Date()
    var unsynced = false
    /// Set when the stream must refuse writes until it is reopened: a failed sync (the kernel may have
    /// dropped the unsynced pages and reports it once), or a failed cut-back. Published to readers.
    var failure: StoreError? {
        didSet { if let failure { shared.failure = failure } }
    }
    /// Background reclamation (StreamWriter+Reclamation.swift): removals since its last pass, when that was,
    /// and what each segment held after it was last compacted (so it is not compacted again for nothing).
    var removedSinceReclaim: UInt64 = 0
    /// After a failed pass: not before this.
    var reclaimRetryAt: ContinuousClock.Instant?
    /// The lowest and highest sequence removed since the last pass.
    var reclaimSpan: ClosedRange<UInt64>?
    var lastReclaim = ContinuousClock.now
    var liveAfterCompaction: [UInt64: UInt64] = [:]
    /// When the index file was last checked for free pages (monotonic).
    var lastIndexCompactionCheck = ContinuousClock.now
    /// Whether anything was removed since that check (only then can the file have become mostly free).
    var removedSinceIndexCheck = false
    /// Message ids leave the index once outside the duplicate window; when they were last pruned (the
    /// stream's clock; `.min`: not since open, so the first pass after open prunes).
    var lastIDPrune: Int64 = .min
    /// The message id of the last appended message ("" = none); rebuilt from the log on open.
    var lastMessageID = ""
    /// The stream's zstd dictionary once it has one (Specs/SegmentFormat.md, "Dictionaries"); until then,
    /// record areas of the frames written, to make it from.
    var dictionary: (id: UInt32, dictionary: Dictionary)?
    var dictionarySamples: [[UInt8]] = []
    var dictionarySampleBytes = 0
    var dictionaryFailed = false

    init(paths: StreamPaths, fileSystem: any FileSystem, index: IndexStore, readers: SegmentReaders,
         clock: @escaping @Sendable () -> Int64, shared: SharedStreamState, config: StreamConfig,
         segments: [UInt64], active: any FileHandle, activeSize: Int64) {
        self.paths = paths
        self.fileSystem = fileSystem
        self.index = index
        self.readers = readers
        self.clock = clock
        self.shared = shared
        self.state = shared.state
        let queue = self.queue
        self.pipeline = SyncPipeline(shared: shared, wakeWriter: { queue.wake() })
        self.config = config
        self.segments = segments
        self.active = active
        self.activeFirst = segments.last!
        self.activeSize = activeSize
        // (try?: start-up hints: a size or dictionary or last id that cannot be read only costs preallocation, compression or the last-msg-id check until the next write)
        self.allocatedEnd = max(activeSize, (try? active.size()) ?? activeSize)
        self.compressor = config.compression ? Compressor(level: config.compressionLevel) : nil
        if let id = readers.dictionaries.ids().last, let loaded = try? readers.dictionaries.dictionary(id) {
            dictionary = (id, loaded)
        }
        if let last = try? index.read({ try $0.location(shared.state.lastSequence) }),
           let frame = try? readers.frame(segment: last.segment, offset: last.frameOffset),
           let message = frame.message(at: Int(last.recordIndex)), message.sequence == shared.state.lastSequence {
            lastMessageID = message.messageID ?? ""
        }
    }

    func publish(state: StreamState, removed: [ClosedRange<UInt64>] = []) { shared.publish(state: state, removed: removed) }
    func publish(config: StreamConfig) { shared.config = config }

    /// The log and index as the writer found them (see the end of ``runWriter()``).
    private var segmentsAtStart: [UInt64] = []
    private var activeSizeAtStart: Int64 = 0
    private var indexWritesAtStart = 0

    func start() {
        segmentsAtStart = segments
        activeSizeAtStart = activeSize
        indexWritesAtStart = index.writes
        running = true
        DetachedThread.start(name: "strata-writer-\(config.name)", stackSize: 1 << 20) { [self] in
            StoreThread.markCurrent()
            runWriter()
        }
    }

    /// Stops accepting work, lets the thread finish what is queued and sync, and waits for it.
    func stop() {
        guard running else { return }
        running = false
        queue.close()
        done.wait()
    }


    private func runWriter() {
        while true {
            let (operations, closed) = queue.take(until: nextWakeup())
            absorbPipelineFailure()
            var batch: [PendingAppend] = []
            var batchBytes = 0
            var removals: [(sequences: [UInt64], completion: @Sendable (Result<UInt64, StoreError>) -> Void)] = []
            var consumerWrites: [Operation] = []
            for (position, operation) in operations.enumerated() {
                switch operation {
                case .append(let request, let size, let completion):
                    batch.append(PendingAppend(request: request, size: size, completion: completion))
                    batchBytes += Int(size)
                    if batch.count >= StreamWriter.maxBatchRecords || batchBytes >= StreamWriter.maxBatchBytes {
                        commit(batch, moreFollows: position < operations.count - 1)
                        batch.removeAll(keepingCapacity: true)
                        batchBytes = 0
                    }
                    continue
                case .remove(let sequences, let completion):
                    // Gathered for one write at the end of this take (they only remove committed messages).
                    removals.append((sequences, completion))
                    continue
                case .saveConsumer, .deleteConsumer:
                    consumerWrites.append(operation)
                    continue
                default:
                    break
                }
                // Everything queued before another operation is applied before it (a sync waits for it).
                if !batch.isEmpty { commit(batch, moreFollows: false); batch.removeAll(keepingCapacity: true); batchBytes = 0 }
                if !removals.isEmpty { remove(removals); removals.removeAll() }
                if !consumerWrites.isEmpty { writeConsumers(consumerWrites); consumerWrites.removeAll() }
                perform(operation)
            }
            if !batch.isEmpty { commit(batch, moreFollows: false) }
            if !removals.isEmpty { remove(removals) }
            if !consumerWrites.isEmpty { writeConsumers(consumerWrites) }
            runTimers()
            shared.deferredWork = hasDeferredWork
            if closed && operations.isEmpty { break }
        }
        // A clean close leaves no pipelined batch behind, no preallocated zeros, and the log and index synced.
        // A failure here is already too late to report to anyone but the next open, whose recovery handles
        // an unclean end.
        pipeline.drain()
        absorbPipelineFailure()
        if allocatedEnd > activeSize, (try? active.truncate(to: activeSize)) != nil { allocatedEnd = activeSize }
        // A stream that was only read while open (an on-demand stream opened for a read) has nothing to sync:
        // on this file system every fsync is a device flush.
        let logChanged = segments != segmentsAtStart || activeSize != activeSizeAtStart
        if failure == nil && (logChanged || index.writes != indexWritesAtStart || unsynced) { try? syncNow() }
        done.signal()
    }

    /// Applies removals queued together in one write and completes each with how many it removed.
    private func remove(_ removals: [(sequences: [UInt64], completion: @Sendable (Result<UInt64, StoreError>) -> Void)]) {
        let result: Result<[UInt64], StoreError> = StoreError.capture {
            try writeRemovals { writer in
                // One pass over the sequence index for all of them; each removal counts the held ones it
                // named first.
                let held = try writer.remove(removals.flatMap(\.sequences))
                var counted = Set<UInt64>()
                return removals.map { removal in
                    UInt64(removal.sequences.filter { held.contains($0) && counted.insert($0).inserted }.count)
                }
            }
        }
        for (i, removal) in removals.enumerated() { removal.completion(result.map { $0[i] }) }
    }

    /// Writes consumer records queued together in one index transaction; syncs the index once when one of
    /// them must be durable (an AckSync).
    private func writeConsumers(_ operations: [Operation]) {
        var durable = false
        let result: Result<[Bool], StoreError> = StoreError.capture {
            try ensureWritable()
            let outcomes: [Bool] = try index.write { writer in
                try operations.map { operation -> Bool in
                    switch operation {
                    case .saveConsumer(let record, let isDurable, _):
                        durable = durable || isDurable
                        try writer.txn.put(index.consumers, key: record.name, value: record.encoded())
                        return true
                    case .deleteConsumer(let name, _):
                        return try writer.txn.delete(index.consumers, key: name)
                    default:
                        return false
                    }
                }
            }
            if durable { try syncNow() }
            return outcomes
        }
        for (i, operation) in operations.enumerated() {
            switch operation {
            case .saveConsumer(_, _, let completion): completion(result.map { _ in () })
            case .deleteConsumer(_, let completion): completion(result.map { $0[i] })
            default: break
            }
        }
    }

    static let maxBatchRecords = 4096
    static let maxBatchBytes = 1 << 20

    /// When the writer must wake up with no work: for an interval sync, the next expiry, a reclamation
    /// pass or a message-id prune.
    private func nextWakeup() -> Date? {
        var deadline: Date?
        func wake(in seconds: Double) {
            let at = Date().addingTimeInterval(max(0.001, min(seconds, 3600)))
            deadline = min(deadline ?? at, at)
        }
        if unsynced, case .interval(let ms) = config.sync {
            wake(in: Double(ms) / 1000 - Date().timeIntervalSince(lastSync))
        }
        if let expiry = Retention.nextExpiry(config: config, state: state) {
            wake(in: Double(expiry - clock()) / 1e9)
        }
        if failure == nil {
            if config.reclaim && removedSinceReclaim > 0 && (segments.count > 1 || activeSegmentIsDead) {
                if let retryAt = reclaimRetryAt {
                    wake(in: Self.seconds(retryAt - ContinuousClock.now))
                } else {
                    wake(in: reclamationDue ? 0 : Self.seconds(Self.reclaimInterval - (ContinuousClock.now - lastReclaim)))
                }
            }
            if config.reclaim && removedSinceIndexCheck {
                wake(in: Self.seconds(Self.indexCompactionInterval - (ContinuousClock.now - lastIndexCompactionCheck)))
            }
            if config.duplicateWindow > 0 {
                wake(in: lastIDPrune == .min ? 0 : Double(lastIDPrune + idPruneInterval - clock()) / 1e9)
            }
        }
        return deadline
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Interval syncs, expiry, message-id pruning, background reclamation and index compaction, between
    /// takes. Each that fails is recorded (``backgroundError``) and tried again on a later pass; only what
    /// may have left the stream inconsistent, or a failed sync, poisons it (``failure``, set where it
    /// happens).
    /// Background work waiting for a timer that only this writer would do (see ``SharedStreamState/deferredWork``).
    private var hasDeferredWork: Bool {
        if unsynced, case .interval = config.sync { return true }
        guard failure == nil, config.reclaim else { return false }
        return (removedSinceReclaim > 0 && (segments.count > 1 || activeSegmentIsDead)) || removedSinceIndexCheck
    }

    private func runTimers() {
        guard failure == nil else { return }
        func attempt(_ what: String, _ body: () throws -> Void) {
            do { try body() } catch { shared.backgroundError = "\(what): \(StoreError.wrap(error))" }
        }
        attempt("interval sync") {
            if unsynced, case .interval(let ms) = config.sync, Date().timeIntervalSince(lastSync) * 1000 >= Double(ms) {
                try syncNow()
            }
        }
        attempt("max-age expiry") {
            if let expiry = Retention.nextExpiry(config: config, state: state), expiry <= clock() {
                _ = try writeRemovals { writer in try Retention.expire(now: clock(), config: config, target: &writer) }
            }
        }
        attempt("message-id pruning") { try pruneMessageIDsIfDue() }
        attempt("reclamation") { try reclaimIfDue() }
        attempt("index compaction") { try compactIndexIfDue() }
    }

    /// Syncs the log and checkpoints the index. A failed sync poisons the stream: after an `fdatasync`
    /// error Linux may have dropped the dirty pages and reports the error only once, so a later sync that
    /// succeeds proves nothing about what was written before it.
    func syncNow() throws {
        try syncLog()
        try index.checkpoint()
        unsynced = false
        lastSync = Date()
    }

    /// Syncs the active segment; a failure poisons the stream (see ``syncNow()``) and is rethrown.
    func syncLog() throws {
        do {
            try shared.statistics.timeSync { try active.sync() }
        } catch {
            let wrapped = StoreError.wrap(error)
            failure = .needsRecovery("sync of \(active.path) failed (\(wrapped)); the stream refuses writes until it is reopened and its log checked")
            throw wrapped
        }
    }

    private func perform(_ operation: Operation) {
        pipeline.drain()  // (every operation but appends, removals and consumer records: rare)
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
                try StreamFiles.writeConfig(newConfig, paths: paths, fileSystem: fileSystem)
                config = newConfig
                compressor = newConfig.compression ? Compressor(level: newConfig.compressionLevel) : nil
                publish(config: newConfig)
                _ = try writeRemovals { writer in
                    try Retention.enforceLimits(config: newConfig, target: &writer)
                    try Retention.expire(now: clock(), config: newConfig, target: &writer)
                }
            })
        case .sync(let completion):
            completion(StoreError.capture { try ensureWritable(); try syncNow() })
        case .remove, .saveConsumer, .deleteConsumer:
            break  // gathered by the loop
        }
    }
}

struct PendingAppend {
    var request: AppendRequest
    var size: UInt64
    var completion: @Sendable (Result<AppendResult, StoreError>) -> Void
}

/// State shared between the writer (which publishes) and readers (which read it at any time): the
/// counters, the config, what the last removals touched, and the failure that poisoned the stream.
final class SharedStreamState: @unchecked Sendable {
    private let lock = Lock()
    private var _state: StreamState
    private var _config: StreamConfig
    private var _removals = RemovalHistory()
    private var _failure: StoreError?
    private var _backgroundError: String?
    private var _deferredWork = false
    /// The write path's figures (its own lock); carried over when an on-demand stream is opened again.
    let statistics: WriteStatistics

    init(state: StreamState, config: StreamConfig, statistics: WriteStatistics = WriteStatistics()) {
        _state = state
        _config = config
        self.statistics = statistics
    }

    /// True while the writer has background work it defers to a timer and that a close would drop: an
    /// interval sync, a reclamation pass, an index compaction check (expiry and message-id pruning are not:
    /// they are redone from the state at the next open). An on-demand stream is not closed while it is true.
    var deferredWork: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _deferredWork }
        set { lock.lock(); _deferredWork = newValue; lock.unlock() }
    }

    var state: StreamState {
        get { lock.lock(); defer { lock.unlock() }; return _state }
        set { publish(state: newValue, removed: []) }
    }

    /// Publishes a new state; `removed` are the ranges the write removed (recorded in the history).
    func publish(state: StreamState, removed: [ClosedRange<UInt64>]) {
        lock.lock()
        defer { lock.unlock() }
        let before = _state.lastSequence &- _state.messages
        let after = state.lastSequence &- state.messages
        if let lowest = removed.first?.lowerBound, let highest = removed.last?.upperBound {
            _removals.record(before: before, after: after, lowest: lowest, highest: highest)
        }
        _state = state
    }

    /// The removal count now, and whether a removal since `count` may have touched `range`.
    func removals(since count: UInt64, touching range: ClosedRange<UInt64>) -> (count: UInt64, touched: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let now = _state.lastSequence &- _state.messages
        return (now, _removals.mayHaveRemoved(in: range, since: count, now: now))
    }

    var config: StreamConfig {
        get { lock.lock(); defer { lock.unlock() }; return _config }
        set { lock.lock(); _config = newValue; lock.unlock() }
    }

    var failure: StoreError? {
        get { lock.lock(); defer { lock.unlock() }; return _failure }
        set { lock.lock(); if _failure == nil { _failure = newValue }; lock.unlock() }
    }

    /// The last failure of the writer's background work (nil once none).
    var backgroundError: String? {
        get { lock.lock(); defer { lock.unlock() }; return _backgroundError }
        set { lock.lock(); _backgroundError = newValue; lock.unlock() }
    }
}
