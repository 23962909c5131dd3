#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import Subjects

/// A stream held in memory only: the behaviour of ``FileStream`` (sequences, limits, purge, delete,
/// de-duplication, reads) without files, for JetStream's memory storage. Thread-safe; every operation
/// runs under one lock and completes at once. Max age is applied whenever the stream is touched.
public final class MemoryStream: MessageStore, @unchecked Sendable {
    private let lock = Lock()
    private var contents: MemoryContents
    private var consumerRecords: [String: ConsumerRecord] = [:]
    private let clock: @Sendable () -> Int64

    public init(config: StreamConfig, clock: @escaping @Sendable () -> Int64 = FileStream.systemClock) throws {
        try config.validate()
        self.contents = MemoryContents(config: config)
        self.clock = clock
    }

    private func locked<T>(_ body: (inout MemoryContents) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        // (try?: retention over a memory map only removes and cannot fail (RetentionTarget throws for file indexes))
        try? Retention.expire(now: clock(), config: contents.config, target: &contents)
        return try body(&contents)
    }

    public var state: StreamState { (try? locked { $0.state }) ?? StreamState() }
    public var currentConfig: StreamConfig { lock.lock(); defer { lock.unlock() }; return contents.config }

    public func append(_ request: AppendRequest) async throws -> AppendResult {
        try FileStream.validate(request)
        let now = clock()
        return try locked { (contents) throws in try contents.append(request, now: now) }
    }

    public func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendResult, StoreError>) -> Void) {
        do {
            try FileStream.validate(request)
            let now = clock()
            completion(.success(try locked { (contents) throws in try contents.append(request, now: now) }))
        } catch {
            completion(.failure(StoreError.wrap(error)))
        }
    }

    public func append(contentsOf requests: [AppendRequest], completion: @escaping @Sendable ([Result<AppendResult, StoreError>]) -> Void) {
        var results: [Result<AppendResult, StoreError>] = []
        results.reserveCapacity(requests.count)
        let now = clock()
        for request in requests {
            do {
                try FileStream.validate(request)
                results.append(.success(try locked { (contents) throws in try contents.append(request, now: now) }))
            } catch {
                results.append(.failure(StoreError.wrap(error)))
            }
        }
        completion(results)
    }

    public func purge(_ request: PurgeRequest) async throws -> UInt64 {
        if let filter = request.filter {
            do { try Subject.validateFilter(filter) } catch { throw StoreError.invalidSubject(filter, error) }
        }
        return try locked { (contents) throws in contents.purge(request) }
    }

    public func delete(sequence: UInt64) async throws -> Bool {
        try locked { (contents) throws in contents.removeRange(sequence...sequence) > 0 }
    }

    public func update(config: StreamConfig) async throws {
        try config.validate()
        let now = clock()
        try locked { (contents) throws in
            contents.config = config
            // (try?: as above)
            try? Retention.enforceLimits(config: config, target: &contents)
            try? Retention.expire(now: now, config: config, target: &contents)
        }
    }

    public func message(sequence: UInt64) throws -> StoredMessage? {
        try locked { (contents) throws in contents.messages[sequence] }
    }

    public func next(atOrAfter sequence: UInt64, filter: String?) throws -> StoredMessage? {
        try validate(filter)
        return try locked { (contents) throws in contents.next(atOrAfter: sequence, filter: filter) }
    }

    public func messages(from sequence: UInt64, filter: String?, limit: Int) throws -> [StoredMessage] {
        try validate(filter)
        return try locked { (contents) throws in
            var result: [StoredMessage] = []
            var next = sequence
            while result.count < limit, let message = contents.next(atOrAfter: next, filter: filter) {
                result.append(message)
                next = message.sequence + 1
            }
            return result
        }
    }

    public func last(subject: String) throws -> StoredMessage? {
        try validate(subject)
        return try locked { (contents) throws in
            let last = contents.subjects.filter { Subject.matches($0.key, filter: subject) }.compactMap { $0.value.sequences.last }.max()
            return last.flatMap { contents.messages[$0] }
        }
    }

    public func firstSequence(atOrAfterTime time: Int64) throws -> UInt64? {
        try locked { (contents) throws in contents.firstSequence(atOrAfterTime: time) }
    }

    public func subjectCounts(filter: String?) throws -> [String: UInt64] {
        try validate(filter)
        return try locked { (contents) throws in
            var counts: [String: UInt64] = [:]
            for (subject, held) in contents.subjects where filter.map({ Subject.matches(subject, filter: $0) }) ?? true {
                counts[subject] = UInt64(held.sequences.count)
            }
            return counts
        }
    }

    public func count(filter: String?, in range: ClosedRange<UInt64>) throws -> UInt64 {
        try validate(filter)
        return try locked { (contents) throws in
            var total: UInt64 = 0
            for (subject, held) in contents.subjects where filter.map({ Subject.matches(subject, filter: $0) }) ?? true {
                let from = held.sequences.partitioningIndex { $0 >= range.lowerBound }
                let to = range.upperBound == .max ? held.sequences.count : held.sequences.partitioningIndex { $0 > range.upperBound }
                total += UInt64(max(0, to - from))
            }
            return total
        }
    }

    public func sequence(forMessageID id: String) throws -> UInt64? {
        let now = clock()
        return try locked { (contents) throws in
            guard contents.config.duplicateWindow > 0, let found = contents.messageIDs[id],
                  found.timestamp >= now - contents.config.duplicateWindow else { return nil }
            return found.sequence
        }
    }

    public func saveConsumer(_ record: ConsumerRecord) throws {
        lock.lock(); defer { lock.unlock() }
        consumerRecords[record.name] = record
    }

    @discardableResult
    public func deleteConsumer(named name: String) throws -> Bool {
        lock.lock(); defer { lock.unlock() }
        return consumerRecords.removeValue(forKey: name) != nil
    }

    /// Memory consumer records are stored at once (`durable` means nothing in memory).
    public func saveConsumer(_ record: ConsumerRecord, durable: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        completion(StoreError.capture { try saveConsumer(record) })
    }

    public func deleteConsumer(named name: String, completion: @escaping @Sendable (Result<Bool, StoreError>) -> Void) {
        completion(StoreError.capture { try deleteConsumer(named: name) })
    }

    public func remove(_ sequences: [UInt64], completion: @escaping @Sendable (Result<UInt64, StoreError>) -> Void) {
        completion(StoreError.capture {
            try locked { (contents) throws in sequences.reduce(UInt64(0)) { $0 + contents.removeRange($1...$1) } }
        })
    }

    public func removals(since count: UInt64, touching range: ClosedRange<UInt64>) -> (count: UInt64, touched: Bool) {
        lock.lock(); defer { lock.unlock() }
        let now = contents.state.lastSequence &- contents.state.messages
        return (now, contents.removals.mayHaveRemoved(in: range, since: count, now: now))
    }

    /// A memory stream has no sync to fail.
    public var failure: StoreError? { nil }
    public var queuedBytes: Int { 0 }

    public func consumers() throws -> [ConsumerRecord] {
        lock.lock(); defer { lock.unlock() }
        return consumerRecords.values.sorted { $0.name < $1.name }
    }

    /// Memory streams apply every write at once; there is nothing to wait for.
    public func sync() async throws {}

    public func close() {}

    private func validate(_ filter: String?) throws {
        if let filter {
            do { try Subject.validateFilter(filter) } catch { throw StoreError.invalidSubject(filter, error) }
        }
    }
}

/// The memory stream's data, with the same retention rules as the file stream's index.
struct MemoryContents: RetentionTarget {
    struct HeldSubject { var sequences: [UInt64] = [] }

    var config: StreamConfig
    var state = StreamState()
    var messages: [UInt64: StoredMessage] = [:]
    var subjects: [String: HeldSubject] = [:]
    var messageIDs: [String: (sequence: UInt64, timestamp: Int64)] = [:]
    /// The ids in the order they were stored (from `idHead` on), to prune those leaving the window.
    var idOrder: [(sequence: UInt64, timestamp: Int64, id: String)] = []
    var idHead = 0
    /// What the last removals touched, for readers holding messages read earlier.
    var removals = RemovalHistory()
    /// The message id of the last appended message ("" = none).
    var lastMessageID = ""

    init(config: StreamConfig) { self.config = config }

    var streamState: StreamState { state }

    mutating func append(_ request: AppendRequest, now: Int64) throws -> AppendResult {
        let size = StoredMessage.memoryAccountedSize(subject: request.subject.utf8.count, headers: request.headers.count, payload: request.payload.count)
        try Retention.admit(content: request.headers.count + request.payload.count, config: config, state: state)
        if config.duplicateWindow > 0, let id = request.messageID, let original = messageIDs[id],
           original.timestamp >= now - config.duplicateWindow {
            return AppendResult(sequence: original.sequence, timestamp: original.timestamp, duplicate: true)
        }
        if let expected = request.expectations.lastSequence, expected != state.lastSequence {
            throw StoreError.wrongLastSequence(actual: state.lastSequence)
        }
        if let expected = request.expectations.lastSubjectSequence {
            let actual = subjects[request.subject]?.sequences.last ?? 0
            if actual != expected { throw StoreError.wrongLastSubjectSequence(actual: actual) }
        }
        if let expected = request.expectations.lastMessageID, expected != lastMessageID {
            throw StoreError.wrongLastMessageID(actual: lastMessageID)
        }
        let sequence = request.sequence ?? state.lastSequence + 1
        if sequence <= state.lastSequence { throw StoreError.wrongLastSequence(actual: state.lastSequence) }
        let timestamp = request.timestamp ?? max(now, state.lastTimestamp)
        lastMessageID = request.messageID ?? ""
        messages[sequence] = StoredMessage(sequence: sequence, timestamp: timestamp, subject: request.subject,
                                           headers: request.headers, payload: request.payload, messageID: request.messageID)
        if subjects[request.subject] == nil { state.subjects += 1 }
        subjects[request.subject, default: HeldSubject()].sequences.append(sequence)
        if let id = request.messageID {
            messageIDs[id] = (sequence, timestamp)
            idOrder.append((sequence, timestamp, id))
        }
        if state.messages == 0 {
            state.firstSequence = sequence
            state.firstTimestamp = timestamp
        }
        state.messages += 1
        state.bytes += size
        state.lastSequence = sequence
        state.lastTimestamp = max(state.lastTimestamp, timestamp)
        switch request.rollup {
        case .subject?:
            for old in subjects[request.subject]?.sequences ?? [] where old < sequence { removeRange(old...old) }
        case .all?:
            if state.firstSequence < sequence { removeRange(state.firstSequence...(sequence - 1)) }
        case nil:
            break
        }
        // Retention over a memory map cannot fail (removals only); `enforce` throws only for file indexes.
        try? Retention.enforce(afterAppendingTo: request.subject, config: config, target: &self)
        pruneMessageIDs(before: now - config.duplicateWindow)
        return AppendResult(sequence: sequence, timestamp: timestamp, duplicate: false)
    }

    /// Forgets ids stored before `time` (outside the duplicate window), oldest first; an id stored again
    /// later keeps its newer entry.
    mutating func pruneMessageIDs(before time: Int64) {
        while idHead < idOrder.count, idOrder[idHead].timestamp < time {
            let old = idOrder[idHead]
            if messageIDs[old.id]?.sequence == old.sequence { messageIDs[old.id] = nil }
            idHead += 1
        }
        if idHead > 1024 && idHead * 2 > idOrder.count {
            idOrder.removeFirst(idHead)
            idHead = 0
        }
    }

    @discardableResult
    mutating func removeRange(_ range: ClosedRange<UInt64>) -> UInt64 {
        let before = state.lastSequence &- state.messages
        defer { removals.record(before: before, after: state.lastSequence &- state.messages, lowest: range.lowerBound, highest: range.upperBound) }
        var removed: UInt64 = 0
        let lower = max(range.lowerBound, state.firstSequence)
        let upper = min(range.upperBound, state.lastSequence)
        guard lower <= upper else { return 0 }
        for sequence in lower...upper {
            guard let message = messages.removeValue(forKey: sequence) else { continue }
            removed += 1
            state.messages -= 1
            state.bytes -= min(state.bytes, message.memoryAccountedSize)
            if var held = subjects[message.subject] {
                let i = held.sequences.partitioningIndex { $0 >= sequence }
                if i < held.sequences.count && held.sequences[i] == sequence { held.sequences.remove(at: i) }
                if held.sequences.isEmpty {
                    subjects[message.subject] = nil
                    state.subjects -= 1
                } else {
                    subjects[message.subject] = held
                }
            }
        }
        if removed > 0 && !(messages[state.firstSequence] != nil) {
            var next = state.firstSequence
            while next <= state.lastSequence && messages[next] == nil { next += 1 }
            state.firstSequence = next
            state.firstTimestamp = messages[next]?.timestamp ?? 0
        }
        return removed
    }

    func subjectInfo(_ subject: String) -> (count: UInt64, oldest: UInt64)? {
        guard let held = subjects[subject], let oldest = held.sequences.first else { return nil }
        return (UInt64(held.sequences.count), oldest)
    }

    func firstSequence(atOrAfterTime time: Int64) -> UInt64? {
        guard state.messages > 0 else { return nil }
        var sequence = state.firstSequence
        while sequence <= state.lastSequence {
            if let message = messages[sequence], message.timestamp >= time { return sequence }
            sequence += 1
        }
        return nil
    }

    func next(atOrAfter sequence: UInt64, filter: String?) -> StoredMessage? {
        if let filter, !Subject.hasWildcard(filter) {
            guard let held = subjects[filter] else { return nil }
            let i = held.sequences.partitioningIndex { $0 >= sequence }
            return i < held.sequences.count ? messages[held.sequences[i]] : nil
        }
        var next = max(sequence, state.firstSequence)
        while next <= state.lastSequence {
            if let message = messages[next], filter.map({ Subject.matches(message.subject, filter: $0) }) ?? true { return message }
            next += 1
        }
        return nil
    }

    mutating func purge(_ request: PurgeRequest) -> UInt64 {
        guard state.messages > 0 else { return 0 }
        let upper = min(state.lastSequence, (request.belowSequence ?? .max) &- 1)
        var matching: [UInt64] = []
        var next = state.firstSequence
        while next <= upper, let message = self.next(atOrAfter: next, filter: request.filter), message.sequence <= upper {
            matching.append(message.sequence)
            next = message.sequence + 1
        }
        if let keep = request.keep { matching.removeLast(min(Int(keep), matching.count)) }
        var removed: UInt64 = 0
        for sequence in matching { removed += removeRange(sequence...sequence) }
        return removed
    }
}

extension Array {
    /// The index of the first element for which `belongs` is true, in an array partitioned by it.
    func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if belongs(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
