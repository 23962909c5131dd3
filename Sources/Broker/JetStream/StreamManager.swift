#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
import Dispatch
#else
import Foundation
#endif
import Platform
import NATSProtocol
import StreamStore
import Subjects
import Synchronization

/// The JetStream streams of a server: their API configs, their stores (file streams under
/// `<store_dir>/streams/<name>`, memory streams in memory), and which stream captures which subject.
/// Thread-safe.
final class StreamManager: @unchecked Sendable {
    /// One stream as the server holds it: its API config (replaced as a whole by an update), its store and
    /// its consumers (kept across updates).
    final class Managed: @unchecked Sendable {
        let config: APIStreamConfig
        let store: any MessageStore
        let created: Int64
        let consumers: ConsumerRegistry
        /// Whether the stream's consumers have been restored (at start, or on first use of a stream deferred
        /// at start); kept across updates.
        let restoration: Restoration
        init(config: APIStreamConfig, store: any MessageStore, created: Int64, consumers: ConsumerRegistry = ConsumerRegistry(),
             restoration: Restoration = Restoration()) {
            self.config = config
            self.store = store
            self.created = created
            self.consumers = consumers
            self.restoration = restoration
        }
    }

    /// Runs a stream's restoration once: the first caller runs it, later and concurrent ones wait for it. The
    /// thread running it does not wait for itself (a stream that captures its own damage advisory).
    final class Restoration: @unchecked Sendable {
        private let condition = Condition()
        private var state = 0  // 0 pending, 1 running, 2 done
        private var runner: pthread_t?
        init(done: Bool = false) { state = done ? 2 : 0 }
        var isDone: Bool { condition.withLock { state == 2 } }
        /// `body` returns false when the restoration must be tried again by the next caller.
        func ensure(_ body: () -> Bool) {
            condition.lock()
            if state == 1, let runner, pthread_equal(runner, pthread_self()) != 0 { condition.unlock(); return }
            while state == 1 { condition.wait() }
            if state == 2 { condition.unlock(); return }
            state = 1
            runner = pthread_self()
            condition.unlock()
            let done = body()
            condition.withLock {
                state = done ? 2 : 0
                runner = nil
                condition.broadcast()
            }
        }
    }

    /// A stream's consumers by name.
    final class ConsumerRegistry: @unchecked Sendable {
        private let lock = Lock()
        private var hosts: [String: ConsumerHost] = [:]
        subscript(name: String) -> ConsumerHost? {
            get { lock.withLock { hosts[name] } }
            set { lock.withLock { hosts[name] = newValue } }
        }
        var all: [ConsumerHost] { lock.withLock { hosts.values.sorted { $0.name < $1.name } } }

        /// Consumers whose stored record did not decode at start: left in the store (never deleted on a guess)
        /// and reported until a consumer of that name is created (replacing the record) or deleted.
        private var unrestored: Set<String> = []
        func markUnrestored(_ name: String) { lock.withLock { _ = unrestored.insert(name) } }
        /// Forgets an unrestored consumer; true when it was one.
        @discardableResult
        func clearUnrestored(_ name: String) -> Bool { lock.withLock { unrestored.remove(name) != nil } }
        var unrestoredNames: [String] { lock.withLock { unrestored.sorted() } }
    }

    /// The API config and creation time, kept beside the stream's own files.
    private struct Saved: Codable {
        var config: APIStreamConfig
        var created: Int64
    }

    /// A stream directory found at start that could not be served: left exactly as it was (never
    /// moved, repaired or deleted by the server), reported, and its name refused to new streams.
    struct Damaged: Sendable, Equatable {
        var name: String
        var path: String
        var reason: String
    }

    private let root: String
    private let lock = Lock()
    private var streams: [String: Managed] = [:]
    /// Streams being created (checked and reserved, their store not yet made), by name.
    private var pending: [String: APIStreamConfig] = [:]
    /// Stream directories that could not be opened (at start, or at the first open of a stream deferred then).
    private var _damaged: [Damaged]
    var damaged: [Damaged] { lock.withLock { _damaged } }

    /// Restores a stream's consumers and reports what its first open found (set by the service; run once per
    /// stream, before any caller of ``stream(named:)``, ``stream(capturing:)`` or ``all`` sees it).
    var restore: (@Sendable (Managed) -> Void)?
    private var bySubject = SubjectTree<String>()
    private let registrations = Atomic<UInt64>(0)

    /// Changes whenever a stream is registered or unregistered (created, updated, deleted, found damaged): what
    /// ``stream(capturing:)`` answered when it had one value holds while it keeps it (read it before asking).
    var version: UInt64 { registrations.load(ordering: .acquiring) }
    /// Told after a stream was created, updated or deleted (outside the lock): leaf connections declare
    /// the streams' subjects to the other side.
    var changed: (@Sendable () -> Void)?

    /// Every stream's name and subjects, restoring none.
    var subjectsByStream: [(name: String, subjects: [String])] {
        lock.withLock { streams.values.map { ($0.config.name, $0.config.subjects) } }
    }

    /// The sync policy of new file streams.
    let sync: StreamConfig.SyncPolicy
    /// Server-wide limits in bytes (-1 = unlimited).
    let maxMemoryStore: Int64
    let maxFileStore: Int64

    /// What file streams do their log I/O through (the real file system, or a test build's injected faults).
    let fileSystem: any FileSystem

    /// How many file streams are kept open (shared by every account of a server).
    let openStreams: OpenStreamBudget

    init(storeDirectory: String, sync: StreamConfig.SyncPolicy = .always, maxMemoryStore: Int64 = -1, maxFileStore: Int64 = -1,
         fileSystem: any FileSystem = POSIXFileSystem(), openStreams: OpenStreamBudget = OpenStreamBudget()) throws {
        self.sync = sync
        self.openStreams = openStreams
        self.fileSystem = fileSystem
        self.maxMemoryStore = maxMemoryStore
        self.maxFileStore = maxFileStore
        root = storeDirectory + "/streams"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // Each stream's API config, decoded on every core; the stores of the first `openStreams.maxOpen` are
        // opened now (recovery), the others deferred to their first use or the service's warm-up.
        let root = self.root
        var names = try FileManager.default.contentsOfDirectory(atPath: root).sorted().filter { name in
            var isDirectory = false
            return FileManager.default.fileExists(atPath: root + "/" + name, isDirectory: &isDirectory) && isDirectory
        }
        // A stream whose creation a crash interrupted (never answered as created): removed.
        for name in names where name.hasPrefix(FileStream.stagingPrefix) {
            // (try?: one that cannot be removed is left; it is never read as a stream)
            try? FileManager.default.removeItem(atPath: root + "/" + name)
        }
        names.removeAll { $0.hasPrefix(".") }
        let decoded = Self.decodeConfigs(names.map { root + "/" + $0 })
        let openStreams = self.openStreams
        var damaged: [Damaged] = []
        var opened: [Managed] = []
        for (i, name) in names.enumerated() {
            let path = root + "/" + name
            let result: Result<Managed, OpenFailure> = decoded[i].flatMap { saved in
                if i >= openStreams.maxOpen {
                    let store = OnDemandFileStream.deferred(directory: path, fileSystem: fileSystem, budget: openStreams)
                    return .success(Managed(config: saved.config, store: store, created: saved.created))
                }
                return Self.open(path, saved: saved, fileSystem: fileSystem, budget: openStreams)
            }
            switch result {
            case .success(let stream): opened.append(stream)
            case .failure(let reason): damaged.append(Damaged(name: name, path: path, reason: reason.text))
            }
        }
        self._damaged = damaged
        for stream in opened { register(stream) }
    }

    private struct OpenFailure: Error { var text: String }

    /// The API configs (`jetstream.json`) of stream directories, decoded in parallel; a failure is the
    /// reason the stream is not served.
    private static func decodeConfigs(_ paths: [String]) -> [Result<Saved, OpenFailure>] {
        final class Slots: @unchecked Sendable {  // each iteration writes its own slot
            var results: [Result<Saved, OpenFailure>?]
            init(_ count: Int) { results = Array(repeating: nil, count: count) }
        }
        let slots = Slots(paths.count)
        slots.results.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let base = buffer.baseAddress
            DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            let configPath = paths[i] + "/jetstream.json"
            let result: Result<Saved, OpenFailure>
            if let data = FileManager.default.contents(atPath: configPath) {
                do {
                    result = .success(try JSONDecoder().decode(Saved.self, from: data))
                } catch {
                    result = .failure(OpenFailure(text: "\(configPath) does not decode (\(error))"))
                }
            } else {
                result = .failure(OpenFailure(text: "\(configPath) is missing or unreadable"))
            }
            base![i] = result
            }
        }
        return slots.results.map { $0! }
    }

    /// Opens one stream's store. Any failure is the reason it is not served; nothing on disk is changed by a
    /// failure to open.
    private static func open(_ path: String, saved: Saved, fileSystem: any FileSystem, budget: OpenStreamBudget) -> Result<Managed, OpenFailure> {
        do {
            // On a read-only file system the store opens read-only (served as its index last committed it).
            let store = try OnDemandFileStream.open(directory: path, fileSystem: fileSystem, budget: budget)
            return .success(Managed(config: saved.config, store: store, created: saved.created))
        } catch {
            return .failure(OpenFailure(text: "its store does not open (\(error))"))
        }
    }

    /// Runs the stream's restoration if it has not run; a deferred stream whose store does not open is then
    /// taken out of service and reported as damaged (as one found at start), unless the failure is of the
    /// moment (``StoreError/isTransient``: out of files, say), which the next use tries again. Returns the
    /// stream, or nil when it was taken out.
    private func restored(_ stream: Managed) -> Managed? {
        // (every publish and ack comes here: a restored stream costs one uncontended lock, nothing more)
        if stream.restoration.isDone { return stream }
        stream.restoration.ensure {
            if let store = stream.store as? OnDemandFileStream, store.isDeferred {
                do {
                    try store.openNow()
                } catch {
                    if (error as? StoreError)?.isTransient == true { return false }
                    lock.withLock {
                        if streams[stream.config.name] === stream { unregister(stream.config.name) }
                        _damaged.append(Damaged(name: stream.config.name, path: store.directory, reason: "its store does not open (\(error))"))
                    }
                    return true
                }
            }
            restore?(stream)
            return true
        }
        // (taken out of service when its store did not open)
        return lock.withLock { streams[stream.config.name] === stream } ? stream : nil
    }

    /// Every stream, restoring none (names and configs only: `STREAM.NAMES`, the warm-up).
    var allUnrestored: [Managed] { lock.withLock { streams.values.sorted { $0.config.name < $1.config.name } } }

    private func register(_ stream: Managed) {
        streams[stream.config.name] = stream
        for subject in stream.config.subjects { bySubject.insert(subject, stream.config.name) }
        registrations.add(1, ordering: .releasing)
    }

    private func unregister(_ name: String) {
        guard let stream = streams.removeValue(forKey: name) else { return }
        for subject in stream.config.subjects { bySubject.remove(subject, name) }
        registrations.add(1, ordering: .releasing)
    }

    func stream(named name: String) -> Managed? { lock.withLock { streams[name] }.flatMap(restored) }

    /// The stream that captures messages published to `subject`.
    func stream(capturing subject: String) -> Managed? {
        lock.withLock { bySubject.count == 0 ? nil : bySubject.matches(subject).first.flatMap { streams[$0] } }.flatMap(restored)
    }

    /// Every stream, each restored first (a stream deferred at start is opened).
    var all: [Managed] { allUnrestored.compactMap(restored) }

    /// Creates a stream, or returns the existing one when the config is the same.
    func create(_ requested: APIStreamConfig) throws -> Managed {
        var config = requested
        if config.subjects.isEmpty && !config.hasMirror && !config.hasSources { config.subjects = [config.name] }
        try validate(config)
        try lock.withLock { try checkSources(config) }
        if config.sealed { throw APIError(code: 500, errCode: 10052, description: "stream configuration for create can not be sealed") }
        // Checked and reserved under the lock; the store is made outside it (file creation syncs, and
        // every publish looks streams up under this lock).
        let existing: Managed? = try lock.withLock {
            if let existing = streams[config.name] {
                guard existing.config == config else { throw APIError.streamNameInUse }
                return existing
            }
            if pending[config.name] != nil { throw APIError.streamNameInUse }  // being created right now
            if _damaged.contains(where: { $0.name == config.name }) {
                throw APIError(code: 500, errCode: 10049, description: "stream \(config.name) exists on disk but could not be opened; see the server log")
            }
            try checkOverlap(config)
            try checkReservation(config, excluding: nil)
            pending[config.name] = config
            return nil
        }
        if let existing { return existing }
        defer { lock.withLock { pending[config.name] = nil } }
        var storeConfig = try Self.storeConfig(config)
        storeConfig.sync = sync
        let store: any MessageStore
        let path = root + "/" + config.name
        let created = FileStream.systemClock()
        do {
            if config.storage == .memory {
                store = try MemoryStream(config: storeConfig)
            } else {
                // The API config is written with the store's own files and synced with them (one syncfs).
                let saved = try JSONEncoder().encode(Saved(config: config, created: created))
                store = try OnDemandFileStream.create(at: path, config: storeConfig, files: [("jetstream.json", Array(saved))],
                                                      fileSystem: fileSystem, budget: openStreams)
            }
        } catch {
            throw APIError.configInvalid("\(error)")
        }
        let managed = Managed(config: config, store: store, created: created, restoration: Restoration(done: true))
        lock.withLock { register(managed) }
        changed?()
        return managed
    }

    /// Applies a new config to an existing stream (storage type and name may not change).
    func update(_ requested: APIStreamConfig) async throws -> Managed {
        var config = requested
        if config.subjects.isEmpty && !config.hasMirror && !config.hasSources { config.subjects = [config.name] }
        try validate(config, creating: false)
        guard let existing = stream(named: config.name) else { throw APIError.streamNotFound }
        try lock.withLock { try checkSources(config) }
        try Self.checkUpdate(from: existing.config, to: &config)
        var storeConfig = try Self.storeConfig(config)
        storeConfig.sync = (existing.store as? OnDemandFileStream)?.currentConfig.sync ?? sync
        try lock.withLock {
            unregister(config.name)
            defer { register(existing) }
            try checkOverlap(config)
            try checkReservation(config, excluding: config.name)
        }
        do { try await existing.store.update(config: storeConfig) } catch { throw APIError.configInvalid("\(error)") }
        let updated = Managed(config: config, store: existing.store, created: existing.created, consumers: existing.consumers,
                              restoration: existing.restoration)
        try lock.withLock {
            unregister(config.name)
            register(updated)
            if config.storage == .file { try save(updated) }
        }
        changed?()
        return updated
    }

    /// What an update may not change, with the reference's messages (all 10052); sealing also sets
    /// discard new and denies deletes and purges.
    static func checkUpdate(from old: APIStreamConfig, to new: inout APIStreamConfig) throws {
        func refuse(_ what: String) -> APIError { APIError(code: 500, errCode: 10052, description: "stream configuration update can not \(what)") }
        if old.storage != new.storage { throw APIError.storageTypeChange }
        if old.mirror != new.mirror { throw APIError(code: 400, errCode: 10055, description: "stream mirror configuration can not be updated") }
        if old.retention != new.retention { throw refuse("change retention policy") }
        if old.maxConsumers != new.maxConsumers { throw refuse("change MaxConsumers") }
        if old.sealed && !new.sealed { throw refuse("unseal a sealed stream") }
        if old.denyDelete && !new.denyDelete { throw refuse("cancel deny message deletes") }
        if old.denyPurge && !new.denyPurge { throw refuse("cancel deny purge") }
        if new.sealed {
            new.discard = .new
            new.denyDelete = true
            new.denyPurge = true
        }
    }

    func delete(_ name: String) throws {
        let removed: Managed? = lock.withLock {
            let stream = streams[name]
            unregister(name)
            return stream
        }
        guard let removed else { throw APIError.streamNotFound }
        changed?()
        for consumer in removed.consumers.all { consumer.delete() }
        removed.store.close()
        if removed.config.storage == .file {
            do {
                try FileManager.default.removeItem(atPath: root + "/" + name)
            } catch {
                // The stream is gone from the server either way; its files are left for the operator.
                throw APIError(code: 500, errCode: 10050, description: "stream deleted but its files could not be removed: \(error)")
            }
        }
    }

    func closeAll() { for stream in allUnrestored { stream.store.close() } }

    /// Writes the API config durably (temporary file, fsync, rename, directory sync).
    private func save(_ stream: Managed) throws {
        let data = try JSONEncoder().encode(Saved(config: stream.config, created: stream.created))
        let directory = root + "/" + stream.config.name
        try DurableFile.write(Array(data), to: directory + "/jetstream.json", in: directory)
    }

    /// `creating` false (an update): `num_replicas` above 1 is kept, as the reference keeps it on a single
    /// server (a create is refused with 10074).
    private func validate(_ config: APIStreamConfig, creating: Bool = true) throws {
        let forbidden: Set<Character> = [".", "*", ">", "/", "\\", " ", "\t"]
        if config.name.isEmpty || config.name.contains(where: { forbidden.contains($0) }) {
            throw APIError(code: 400, errCode: 10057, description: "invalid stream name")
        }
        if creating && config.numReplicas > 1 { throw APIError.replicasNotSupported }
        if config.hasMirror && !config.subjects.isEmpty {
            throw APIError(code: 400, errCode: 10034, description: "stream mirrors can not contain subjects")
        }
        func invalid(_ why: String) -> APIError { APIError(code: 500, errCode: 10052, description: why) }
        if let mirror = config.mirror {
            if config.hasSources { throw APIError(code: 400, errCode: 10031, description: "stream mirrors can not also contain other sources") }
            if mirror.name.isEmpty { throw invalid("stream mirror requires a name") }
        }
        for source in (config.mirror.map { [$0] } ?? []) + (config.sources ?? []) {
            if source.name.isEmpty { throw invalid("stream source requires a name") }
            if let filter = source.filterSubject, !Subject.isValidFilter(filter) { throw invalid("invalid filter subject \"\(filter)\"") }
            guard let external = source.external else { continue }
            if !external.deliver.isEmpty && !Subject.isValidLiteral(external.deliver) {
                throw APIError(code: 400, errCode: 10024, description: "stream external delivery prefix \(external.deliver) must not contain wildcards")
            }
            if !external.api.isEmpty {
                if !Subject.isValidLiteral(external.api) {
                    throw invalid("stream external api prefix \"\(external.api)\" must be a valid subject without wildcards")
                }
                if external.api == "$JS.API" {
                    throw APIError(code: 400, errCode: 10021, description: "stream external api prefix \(external.api) must not overlap with $JS.API")
                }
            }
        }
        for subject in config.subjects where !Subject.isValidFilter(subject) { throw invalid("invalid subject") }
        for (i, a) in config.subjects.enumerated() {
            for b in config.subjects[(i + 1)...] where Subject.overlaps(a, b) { throw invalid("subject \"\(a)\" overlaps with \"\(b)\"") }
            // Within the API's subjects (a wider subject such as `>` is allowed, as the reference).
            if a == "$JS.API.>" || Subject.isSubset(a, of: "$JS.API.>") { throw invalid("subjects overlap with jetstream api") }
        }
        if config.maxAge > 0 && config.maxAge < 100_000_000 { throw invalid("max age needs to be >= 100ms") }
        if config.duplicateWindow < 0 { throw invalid("duplicates window can not be negative") }
        if config.maxAge > 0 && config.duplicateWindow > config.maxAge {
            throw invalid("duplicates window can not be larger then max age")  // (sic, as the reference)
        }
        if config.duplicateWindow > 0 && config.duplicateWindow < 100_000_000 { throw invalid("duplicates window needs to be >= 100ms") }
    }

    /// What the reference checks of a mirror's or sources' origins on this server (lock held): an origin's
    /// messages must fit this stream's `max_msg_size`, its filter must overlap the origin's subjects, and no
    /// chain of local mirrors and sources may lead back to this stream.
    private func checkSources(_ config: APIStreamConfig) throws {
        func invalid(_ why: String) -> APIError { APIError(code: 500, errCode: 10052, description: why) }
        if let mirror = config.mirror, mirror.external == nil, let origin = streams[mirror.name]?.config {
            if config.maxMsgSize > 0 && origin.maxMsgSize > 0 && config.maxMsgSize < origin.maxMsgSize {
                throw APIError(code: 400, errCode: 10030, description: "stream mirror must have max message size >= source")
            }
            if let filter = mirror.filterSubject, !origin.subjects.isEmpty, !origin.subjects.contains(where: { Subject.overlaps($0, filter) }) {
                throw invalid("mirror '\(mirror.name)' filter subject '\(filter)' does not overlap with any origin stream subject")
            }
        }
        for source in config.sources ?? [] where source.external == nil {
            guard let origin = streams[source.name]?.config else { continue }
            if config.maxMsgSize > 0 && origin.maxMsgSize > 0 && config.maxMsgSize < origin.maxMsgSize {
                throw APIError(code: 400, errCode: 10046, description: "stream source must have max message size >= target")
            }
            if let filter = source.filterSubject, !origin.subjects.isEmpty, !origin.subjects.contains(where: { Subject.overlaps($0, filter) }) {
                throw invalid("source '\(source.name)' filter subject '\(filter)' does not overlap with any origin stream subject")
            }
        }
        // (the reference's walk: local origins only; one behind an external prefix is not followed)
        var toVisit = [config]
        var visited: Set<String> = []
        while let next = toVisit.popLast() {
            visited.insert(next.name)
            for origin in ((next.mirror.map { [$0] } ?? []) + (next.sources ?? [])) where origin.external == nil {
                if visited.contains(origin.name) { throw invalid("detected cycle") }
                if let found = streams[origin.name]?.config { toVisit.append(found) }
            }
        }
    }

    /// A stream's `max_bytes` is reserved from the server's limit for its storage type (as the reference):
    /// a stream that cannot fit is refused with 10047 (file) or 10028 (memory).
    private func checkReservation(_ config: APIStreamConfig, excluding name: String?) throws {
        let limit = config.storage == .memory ? maxMemoryStore : maxFileStore
        guard limit >= 0, config.maxBytes > 0 else { return }
        let reserved = (streams.values.map(\.config) + pending.values).filter { $0.storage == config.storage && $0.name != name }
            .reduce(Int64(0)) { $0 + max($1.maxBytes, 0) }
        if reserved + config.maxBytes > limit {
            throw config.storage == .memory
                ? APIError(code: 500, errCode: 10028, description: "insufficient memory resources available")
                : APIError(code: 500, errCode: 10047, description: "insufficient storage resources available")
        }
    }

    /// Bytes left under the server's limit for the stream's storage type (nil: no limit).
    func room(in stream: Managed) -> Int64? {
        let limit = stream.config.storage == .memory ? maxMemoryStore : maxFileStore
        guard limit >= 0 else { return nil }
        let used = all.filter { $0.config.storage == stream.config.storage }.reduce(UInt64(0)) { $0 + $1.store.state.bytes }
        return limit - Int64(used)
    }

    private func checkOverlap(_ config: APIStreamConfig) throws {
        for other in streams.values.map(\.config) + pending.values where other.name != config.name {
            for a in config.subjects { for b in other.subjects where Subject.overlaps(a, b) { throw APIError.subjectsOverlap } }
        }
    }

    /// The storage engine's config for an API config.
    static func storeConfig(_ config: APIStreamConfig) throws -> StreamConfig {
        var store = StreamConfig(name: config.name)
        store.maxMessages = config.maxMsgs > 0 ? UInt64(config.maxMsgs) : 0
        store.maxBytes = config.maxBytes > 0 ? UInt64(config.maxBytes) : 0
        store.maxAge = config.maxAge
        store.maxMessagesPerSubject = config.maxMsgsPerSubject > 0 ? UInt64(config.maxMsgsPerSubject) : 0
        store.maxMessageSize = 0  // max_msg_size counts headers + payload; the service checks it before appending
        store.discard = config.discard == .new ? .new : .old
        store.duplicateWindow = config.duplicateWindow
        store.segmentBytes = segmentBytes(for: config)
        return store
    }

    /// The segment size for a stream's limits (Specs/Retention.md, "Reclamation"): small enough that a
    /// capped stream's sealed segments are wholly removed soon after they fill, so that reclamation can
    /// delete them and the store stays near the cap.
    static func segmentBytes(for config: APIStreamConfig) -> Int64 {
        let low: Int64 = 64 << 10, high: Int64 = 8 << 20
        if config.maxBytes > 0 { return min(max(config.maxBytes / 4, low), high) }
        if config.maxMsgs > 0 { return min(max(config.maxMsgs * 32, low), high) }
        return config.retention == .limits ? high : 4 << 20
    }
}
