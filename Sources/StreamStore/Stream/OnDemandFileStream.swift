#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// A ``FileStream`` whose files, index environment and writer thread are open only while it is used: an
/// ``OpenStreamBudget`` closes it when it has been idle longest and too many streams are open, and the next
/// read or write opens it again (a clean close leaves nothing for recovery to do). A store of 10,000 streams
/// thus holds the files of the few in use, not 60,000 descriptors and 10,000 threads.
///
/// Guarantees:
/// - **The same stream**: every read and write behaves as on the underlying ``FileStream`` (durability,
///   group commit, isolation, recovery); closing drains the writer and syncs before the files are let go.
/// - **Never closed under a caller**: an operation pins the open stream for its duration (an async one until
///   it returns; a completion form until it is queued, and the writer drains the queue before it closes).
/// - **Cheap while closed**: ``state`` and ``currentConfig`` answer from what the last close left; a closed
///   stream with `max_age` is opened again when its oldest message expires.
/// - **What monitoring reads survives a close**: the write figures continue, frames found damaged by reads
///   are kept, and the report of the first open (recovery at start) stays ``recovery``, unless a later open
///   found something to mend.
/// - Completions of its writes run on the writer's threads, as ``FileStream``'s do: they may read ``state``;
///   an operation from a writer or sync thread while the stream is being closed fails with
///   ``StoreError/closed`` instead of waiting (the close waits for that thread).
/// - A stream opened read-only (its file system was read-only at start) or whose writes have failed stays
///   open, so that what it reports stays true.
public final class OnDemandFileStream: MessageStore, @unchecked Sendable {
    public let directory: String
    private let fileSystem: any FileSystem
    private let budget: OpenStreamBudget
    private var statistics: WriteStatistics

    /// Guards what follows; waited on while the budget's thread closes the stream.
    private let lock = Condition()
    private var stream: FileStream?
    /// The stream the budget's thread is closing (its writer draining): answers state until it is closed;
    /// an operation waits for the close and opens the stream again.
    private var closing: FileStream?
    private var pins = 0
    private var shutDown = false
    /// CLOCK_MONOTONIC_COARSE nanoseconds of the last use (read by the budget's thread).
    private var used: UInt64 = 0
    /// What the last close left; nil for a deferred stream not opened yet.
    private var resting: (state: StreamState, config: StreamConfig)?
    private var carriedDamage: [(segment: UInt64, offset: UInt64)] = []
    /// The consumer records read at the first open, kept until ``consumers()`` is first asked (the broker
    /// restores consumers at start without opening every stream a second time) or a record changes.
    private var consumersAtOpen: [ConsumerRecord]?
    private var _recovery: RecoveryReport
    /// Opens after the first (figures and tests).
    private var reopens = 0

    private init(directory: String, fileSystem: any FileSystem, budget: OpenStreamBudget, opened: FileStream,
                 consumers: [ConsumerRecord]?) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.budget = budget
        self.stream = opened
        self.statistics = opened.shared.statistics
        self.resting = (opened.state, opened.currentConfig)
        self._recovery = opened.recovery
        self.consumersAtOpen = consumers
        self.used = Self.monotonicNow()
        budget.opened(self)
    }

    /// An existing stream not opened yet: the first operation opens it (recovery and all, as ``open(directory:fileSystem:budget:)``),
    /// and until then ``recovery`` is empty. A server with more streams than it keeps open defers most of them
    /// at start (Specs/StoreLayout.md, "Open streams").
    public static func deferred(directory: String, fileSystem: any FileSystem = POSIXFileSystem(),
                                budget: OpenStreamBudget) -> OnDemandFileStream {
        OnDemandFileStream(deferred: directory, fileSystem: fileSystem, budget: budget)
    }

    private init(deferred directory: String, fileSystem: any FileSystem, budget: OpenStreamBudget) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.budget = budget
        self.stream = nil
        self.statistics = WriteStatistics()
        self.resting = nil
        self._recovery = RecoveryReport()
        self.consumersAtOpen = nil
        self.reopens = -1  // the first open is not a reopen
    }

    /// Opens a deferred stream now (and reads its consumer records for the restore); throws what its open threw.
    public func openNow() throws {
        let open = try acquire()
        defer { release() }
        let records = try? open.consumers()  // (try?: nil reads them again when asked, and reports that failure)
        lock.withLock { if consumersAtOpen == nil && reopens == 0 { consumersAtOpen = records } }
    }

    /// Waits (briefly) until the budget has room for one more open stream: for the threads that open streams
    /// one after another (the warm-up of streams deferred at start), never for one serving a client.
    public func waitForRoom() { budget.admit() }

    /// True until a deferred stream is first opened.
    public var isDeferred: Bool { lock.withLock { resting == nil && stream == nil && closing == nil } }

    /// Opens an existing stream (recovering it as Specs/Recovery.md says) and reads its consumer records. On
    /// a read-only file system (EROFS) it is opened read-only: served as its index last committed it, every
    /// write refused.
    public static func open(directory: String, fileSystem: any FileSystem = POSIXFileSystem(),
                            budget: OpenStreamBudget) throws -> OnDemandFileStream {
        budget.admit()
        let opened = try firstOpen(directory: directory, fileSystem: fileSystem)
        let consumers = try? opened.consumers()  // (try?: nil reads them again when asked, and reports that failure)
        return OnDemandFileStream(directory: directory, fileSystem: fileSystem, budget: budget, opened: opened, consumers: consumers)
    }

    /// The first open of a stream: on a read-only file system (EROFS) it opens read-only.
    private static func firstOpen(directory: String, fileSystem: any FileSystem) throws -> FileStream {
        do {
            return try FileStream(directory: directory, fileSystem: fileSystem)
        } catch StoreError.io(let failure) where failure.errno == EROFS {
            return try FileStream.openReadOnly(directory: directory, fileSystem: fileSystem)
        }
    }

    /// Creates a new stream in `directory` (which must not hold one), with `files` beside its own (see
    /// ``FileStream/create(at:config:files:fileSystem:clock:)``).
    public static func create(at directory: String, config: StreamConfig, files: [(name: String, bytes: [UInt8])] = [],
                              fileSystem: any FileSystem = POSIXFileSystem(), budget: OpenStreamBudget) throws -> OnDemandFileStream {
        budget.admit()
        let created = try FileStream.create(at: directory, config: config, files: files, fileSystem: fileSystem)
        return OnDemandFileStream(directory: directory, fileSystem: fileSystem, budget: budget, opened: created, consumers: [])
    }

    deinit {
        budget.forget(self)
    }

    // MARK: Opening and closing

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The open stream, opened again if it was closed; pinned until ``release()``.
    private func acquire() throws(StoreError) -> FileStream {
        lock.lock()
        defer { lock.unlock() }
        if closing != nil && StoreThread.isCurrent {
            // A completion on a writer or sync thread (of this stream, perhaps, whose close waits for it): fail
            // rather than wait, as an append to a closed FileStream does.
            throw .closed
        }
        while closing != nil { lock.wait() }
        if shutDown { throw .closed }
        let open: FileStream
        if let stream {
            open = stream
        } else {
            // (no `budget.admit()` here: this runs on whatever thread uses the stream, an event loop too; the
            // start and the warm-up wait for room before they open, see ``waitForRoom()``)
            do {
                if resting == nil {
                    open = try Self.firstOpen(directory: directory, fileSystem: fileSystem)
                    statistics = open.shared.statistics
                    _recovery = open.recovery
                } else {
                    open = try FileStream(directory: directory, fileSystem: fileSystem, statistics: statistics)
                    if !open.recovery.isClean { _recovery = open.recovery }
                }
            } catch {
                throw StoreError.wrap(error)
            }
            resting = resting ?? (open.state, open.currentConfig)
            reopens += 1
            stream = open
            budget.opened(self)
        }
        pins += 1
        used = Self.monotonicNow()
        return open
    }

    private func release() {
        lock.withLock { pins -= 1 }
    }

    private func with<T>(_ body: (FileStream) throws -> T) throws -> T {
        let open = try acquire()
        defer { release() }
        return try body(open)
    }

    /// Opens the stream if it is closed (the budget wakes a stream whose oldest message is due to expire;
    /// its writer expires it at once).
    func wake() {
        // (try?: a stream that does not open reports that to its next caller, which gets the error)
        _ = try? with { _ in }
    }

    /// When the budget's thread last saw the stream used.
    var lastUse: UInt64 { lock.withLock { used } }

    /// Closes the stream if nothing holds or waits on it; true when it did. Runs on the budget's thread.
    /// The close (the writer draining what it took, then syncing) runs without the stream's lock, so that
    /// the writer's completions may read ``state``; operations started meanwhile wait for it to finish.
    func closeIfIdle() -> Bool {
        lock.lock()
        guard let open = stream, pins == 0, !shutDown, !open.isReadOnly, open.failure == nil,
              !open.hasQueuedWork, !open.hasDeferredWork else {
            lock.unlock()
            return false
        }
        closing = open
        stream = nil
        lock.unlock()
        open.close()
        lock.lock()
        resting = (open.state, open.currentConfig)
        carriedDamage.append(contentsOf: open.framesFoundDamagedByReads)
        closing = nil
        lock.broadcast()
        let wakeAt = Retention.nextExpiry(config: open.currentConfig, state: open.state)
        lock.unlock()
        budget.closed(self, wakeAt: wakeAt, byBudget: true)
        return true
    }

    /// True while the stream's files are open.
    public var isOpen: Bool { lock.withLock { stream != nil } }

    /// How many times the stream was opened again after a close by the budget.
    public var reopenCount: Int { lock.withLock { max(0, reopens) } }

    /// Closes the stream for good (the server stops or the stream is deleted): the writer finishes what is
    /// queued and syncs; later operations fail with ``StoreError/closed``.
    public func close() {
        lock.lock()
        while closing != nil { lock.wait() }
        shutDown = true
        let open = stream
        stream = nil
        closing = open
        lock.unlock()
        open?.close()
        lock.lock()
        if let open { resting = (open.state, open.currentConfig) }
        closing = nil
        lock.broadcast()
        lock.unlock()
        budget.forget(self)
    }

    // MARK: What monitoring reads

    /// What the first open found and mended (or a later open, when it found something).
    public var recovery: RecoveryReport { lock.withLock { _recovery } }
    /// True when the stream was opened read-only at start.
    public var isReadOnly: Bool { lock.withLock { stream?.isReadOnly ?? false } }
    /// The write path's figures since the stream was first opened.
    public var writeFigures: WriteFigures { statistics.snapshot }
    /// What the stream occupies on disk (read from the directory; the stream need not be open).
    public var diskUsage: StreamDiskUsage { StreamDiskUsage.measure(root: directory) }
    /// Frames reads have found damaged since the stream was first opened.
    public var framesFoundDamagedByReads: [(segment: UInt64, offset: UInt64)] {
        lock.withLock { carriedDamage + (stream?.framesFoundDamagedByReads ?? []) }
    }

    // MARK: MessageStore

    /// A deferred stream not opened yet is opened to answer (and answers an empty state if it cannot be).
    public var state: StreamState {
        if let known = lock.withLock({ (stream ?? closing)?.state ?? resting?.state }) { return known }
        return (try? with { $0.state }) ?? StreamState()
    }
    public var currentConfig: StreamConfig {
        if let known = lock.withLock({ (stream ?? closing)?.currentConfig ?? resting?.config }) { return known }
        return (try? with { $0.currentConfig }) ?? StreamConfig(name: String(directory.split(separator: "/").last ?? ""))
    }
    public var failure: StoreError? { lock.withLock { stream?.failure } }
    public var queuedBytes: Int { lock.withLock { stream?.queuedBytes ?? 0 } }

    public func append(_ request: AppendRequest) async throws -> AppendResult {
        let open = try acquire()
        defer { release() }
        return try await open.append(request)
    }

    public func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendResult, StoreError>) -> Void) {
        do { try with { $0.append(request, completion: completion) } } catch { completion(.failure(StoreError.wrap(error))) }
    }

    public func append(contentsOf requests: [AppendRequest], completion: @escaping @Sendable ([Result<AppendResult, StoreError>]) -> Void) {
        do {
            try with { $0.append(contentsOf: requests, completion: completion) }
        } catch {
            completion(Array(repeating: .failure(StoreError.wrap(error)), count: requests.count))
        }
    }

    /// Appends several messages with one hand-off to the writer; returns each one's outcome, in order.
    public func append(contentsOf requests: [AppendRequest]) async -> [Result<AppendResult, StoreError>] {
        await withCheckedContinuation { continuation in
            append(contentsOf: requests) { continuation.resume(returning: $0) }
        }
    }

    public func purge(_ request: PurgeRequest) async throws -> UInt64 {
        let open = try acquire()
        defer { release() }
        return try await open.purge(request)
    }

    public func delete(sequence: UInt64) async throws -> Bool {
        let open = try acquire()
        defer { release() }
        return try await open.delete(sequence: sequence)
    }

    public func update(config: StreamConfig) async throws {
        let open = try acquire()
        defer { release() }
        try await open.update(config: config)
    }

    public func sync() async throws {
        let open = try acquire()
        defer { release() }
        try await open.sync()
    }

    /// Rewrites sealed segments without their removed records.
    public func compact(_ options: CompactionOptions = CompactionOptions()) async throws -> CompactionReport {
        let open = try acquire()
        defer { release() }
        return try await open.compact(options)
    }

    public func message(sequence: UInt64) throws -> StoredMessage? {
        // A sequence past the last cannot be held: answered without opening.
        if sequence > state.lastSequence { return nil }
        return try with { try $0.message(sequence: sequence) }
    }

    public func next(atOrAfter sequence: UInt64, filter: String?) throws -> StoredMessage? {
        if sequence > state.lastSequence { return nil }
        return try with { try $0.next(atOrAfter: sequence, filter: filter) }
    }

    public func messages(from sequence: UInt64, filter: String?, limit: Int) throws -> [StoredMessage] {
        if sequence > state.lastSequence { return [] }
        return try with { try $0.messages(from: sequence, filter: filter, limit: limit) }
    }

    public func last(subject: String) throws -> StoredMessage? { try with { try $0.last(subject: subject) } }
    public func firstSequence(atOrAfterTime time: Int64) throws -> UInt64? { try with { try $0.firstSequence(atOrAfterTime: time) } }
    public func subjectCounts(filter: String?) throws -> [String: UInt64] { try with { try $0.subjectCounts(filter: filter) } }

    public func count(filter: String?, in range: ClosedRange<UInt64>) throws -> UInt64 {
        let state = self.state
        if state.messages == 0 || range.lowerBound > state.lastSequence { return 0 }
        return try with { try $0.count(filter: filter, in: range) }
    }

    public func sequence(forMessageID id: String) throws -> UInt64? { try with { try $0.sequence(forMessageID: id) } }

    public func remove(_ sequences: [UInt64], completion: @escaping @Sendable (Result<UInt64, StoreError>) -> Void) {
        do { try with { $0.remove(sequences, completion: completion) } } catch { completion(.failure(StoreError.wrap(error))) }
    }

    public func removals(since count: UInt64, touching range: ClosedRange<UInt64>) -> (count: UInt64, touched: Bool) {
        lock.lock()
        defer { lock.unlock() }
        if let open = stream ?? closing { return open.removals(since: count, touching: range) }
        // Closed: nothing is removed until it opens again; what was removed before is not remembered.
        guard let resting else { return (count, true) }
        let now = resting.state.lastSequence &- resting.state.messages
        return (now, count < now)
    }

    public func saveConsumer(_ record: ConsumerRecord, durable: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        lock.withLock { consumersAtOpen = nil }
        do { try with { $0.saveConsumer(record, durable: durable, completion: completion) } } catch { completion(.failure(StoreError.wrap(error))) }
    }

    public func deleteConsumer(named name: String, completion: @escaping @Sendable (Result<Bool, StoreError>) -> Void) {
        lock.withLock { consumersAtOpen = nil }
        do { try with { $0.deleteConsumer(named: name, completion: completion) } } catch { completion(.failure(StoreError.wrap(error))) }
    }

    public func saveConsumer(_ record: ConsumerRecord) throws {
        lock.withLock { consumersAtOpen = nil }
        try with { try $0.saveConsumer(record) }
    }

    @discardableResult
    public func deleteConsumer(named name: String) throws -> Bool {
        lock.withLock { consumersAtOpen = nil }
        return try with { try $0.deleteConsumer(named: name) }
    }

    public func consumers() throws -> [ConsumerRecord] {
        if let records = lock.withLock({ () -> [ConsumerRecord]? in defer { consumersAtOpen = nil }; return consumersAtOpen }) {
            return records
        }
        return try with { try $0.consumers() }
    }
}
