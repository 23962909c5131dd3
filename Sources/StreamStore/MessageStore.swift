#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// A stream's storage, on disk (``FileStream``) or in memory (``MemoryStream``): the same behaviour
/// behind one interface, for JetStream's file and memory storage.
public protocol MessageStore: AnyObject, Sendable {
    /// Counters as of the last committed write.
    var state: StreamState { get }
    var currentConfig: StreamConfig { get }

    /// Appends a message; returns once it is committed (durable per the sync policy, for files).
    func append(_ request: AppendRequest) async throws -> AppendResult
    /// Appends without waiting; `completion` runs once the append is committed. Appends are applied in
    /// call order.
    func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendResult, StoreError>) -> Void)
    /// Appends several messages, in order, without waiting: `completion` runs once with every outcome, in
    /// order, when all are committed (or refused).
    func append(contentsOf requests: [AppendRequest], completion: @escaping @Sendable ([Result<AppendResult, StoreError>]) -> Void)
    func purge(_ request: PurgeRequest) async throws -> UInt64
    func delete(sequence: UInt64) async throws -> Bool
    func update(config: StreamConfig) async throws
    /// Waits until every write queued before it has been applied, including retention work the writer
    /// does on its own (expiry); for files, also syncs log and index.
    func sync() async throws

    func message(sequence: UInt64) throws -> StoredMessage?
    func next(atOrAfter sequence: UInt64, filter: String?) throws -> StoredMessage?
    func messages(from sequence: UInt64, filter: String?, limit: Int) throws -> [StoredMessage]
    func last(subject: String) throws -> StoredMessage?
    func firstSequence(atOrAfterTime time: Int64) throws -> UInt64?
    func subjectCounts(filter: String?) throws -> [String: UInt64]
    /// Held messages matching `filter` (all when nil) whose sequence is in `range`. O(those counted) for a
    /// filter; from the stream's counters for all subjects over the whole stream.
    func count(filter: String?, in range: ClosedRange<UInt64>) throws -> UInt64
    func sequence(forMessageID id: String) throws -> UInt64?
    /// Removes the held ones of `sequences` without waiting; removals queued together are applied in one
    /// write. `completion` gets how many were held.
    func remove(_ sequences: [UInt64], completion: @escaping @Sendable (Result<UInt64, StoreError>) -> Void)
    /// The removal count now, and whether a removal since `count` may have touched `range`.
    func removals(since count: UInt64, touching range: ClosedRange<UInt64>) -> (count: UInt64, touched: Bool)
    /// Why the store refuses writes (a failed sync), or nil while it is healthy.
    var failure: StoreError? { get }
    /// Bytes of appends waiting for the writer (0 for stores that write at once).
    var queuedBytes: Int { get }

    /// Stores a consumer record without blocking on the index; `durable`: completes once synced.
    func saveConsumer(_ record: ConsumerRecord, durable: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void)
    func deleteConsumer(named name: String, completion: @escaping @Sendable (Result<Bool, StoreError>) -> Void)
    func saveConsumer(_ record: ConsumerRecord) throws
    @discardableResult func deleteConsumer(named name: String) throws -> Bool
    func consumers() throws -> [ConsumerRecord]
    func close()
}

extension MessageStore {
    /// Removes every message.
    public func purge() async throws -> UInt64 { try await purge(PurgeRequest()) }

    /// Held messages matching `filter` at or after `sequence`.
    public func count(filter: String?, atOrAfter sequence: UInt64) throws -> UInt64 {
        try count(filter: filter, in: sequence...UInt64.max)
    }
}

extension FileStream: MessageStore {}

/// Gathers the outcomes of a batch of appends completing one by one; calls `completion` once with all.
final class BatchCollector: @unchecked Sendable {
    private let lock = Lock()
    private var results: [Result<AppendResult, StoreError>?]
    private var remaining: Int
    private let completion: @Sendable ([Result<AppendResult, StoreError>]) -> Void

    init(count: Int, completion: @escaping @Sendable ([Result<AppendResult, StoreError>]) -> Void) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.completion = completion
    }

    func complete(_ index: Int, _ result: Result<AppendResult, StoreError>) {
        lock.lock()
        results[index] = result
        remaining -= 1
        let done = remaining == 0
        lock.unlock()
        if done { completion(results.map { $0! }) }
    }
}
