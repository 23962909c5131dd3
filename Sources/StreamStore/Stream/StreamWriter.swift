import Foundation
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
    }

    let queue = WriteQueue<Operation>()
    let paths: StreamPaths
    let fileSystem: any FileSystem
    let index: IndexStore
    let readers: SegmentReaders
    let clock: @Sendable () -> Int64
    let shared: SharedStreamState
    private let done = DispatchSemaphore(value: 0)
    private var running = false

    // Owned by the writer thread once started.
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
    var failure: StoreError?
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
        self.config = config
        self.segments = segments
        self.active = active
        self.activeFirst = segments.last!
        self.activeSize = activeSize
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

    var state: StreamState { shared.state }
    func publish(state: StreamState) { shared.state = state }
    func publish(config: StreamConfig) { shared.config = config }

    func start() {
        running = true
        let thread = Thread { [self] in runWriter() }
        thread.name = "strata-writer-\(config.name)"
        thread.stackSize = 1 << 20
        thread.start()
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
            var batch: [PendingAppend] = []
            var batchBytes = 0
            for operation in operations {
                if case .append(let request, let size, let completion) = operation {
                    batch.append(PendingAppend(request: request, size: size, completion: completion))
                    batchBytes += Int(size)
                    if batch.count >= StreamWriter.maxBatchRecords || batchBytes >= StreamWriter.maxBatchBytes {
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
        // A clean close leaves no preallocated zeros behind.
        if allocatedEnd > activeSize, (try? active.truncate(to: activeSize)) != nil { allocatedEnd = activeSize }
        try? active.sync()
        try? index.checkpoint()
        done.signal()
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
            completion(StoreError.capture { try syncNow() })
        }
    }
}

struct PendingAppend {
    var request: AppendRequest
    var size: UInt64
    var completion: @Sendable (Result<AppendResult, StoreError>) -> Void
}

/// State shared between the writer (which publishes) and readers (which read it at any time).
final class SharedStreamState: @unchecked Sendable {
    private let lock = NSLock()
    private var _state: StreamState
    private var _config: StreamConfig

    init(state: StreamState, config: StreamConfig) {
        _state = state
        _config = config
    }

    var state: StreamState {
        get { lock.lock(); defer { lock.unlock() }; return _state }
        set { lock.lock(); _state = newValue; lock.unlock() }
    }

    var config: StreamConfig {
        get { lock.lock(); defer { lock.unlock() }; return _config }
        set { lock.lock(); _config = newValue; lock.unlock() }
    }
}
