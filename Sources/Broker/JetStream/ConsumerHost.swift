import Consumers
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
import Dispatch
#else
import Foundation
#endif
import Platform
import Logging
import NATSProtocol
import NIOCore
import StreamStore

/// Runs one consumer: its pure ``ConsumerEngine`` under a lock, the timer that ticks it at its next
/// deadline, and the effects of its actions (deliveries and status messages through the server,
/// persistence through the stream's consumer records).
final class ConsumerHost: @unchecked Sendable {
    let name: String
    let created: Int64
    private let lock = Lock()
    private let sendLock = Lock()
    private var engine: ConsumerEngine
    private let store: any MessageStore
    private let send: @Sendable ([OutboundMessage]) -> Void
    private var scheduled: Int64?
    private var deleted = false
    /// Push consumers: whether anyone listens on a subject (the server's router).
    private let hasInterest: @Sendable (String) -> Bool
    /// The filter matches every subject of the stream: pending counts come from the stream's counters.
    private var filterCoversStream: Bool
    /// Applies the stream's retention to messages this consumer is done with (set by the service); the
    /// closure it is given runs once they are removed (or at once when none is due).
    var onAcknowledged: @Sendable ([UInt64], @escaping @Sendable () -> Void) -> Void = { _, done in done() }
    /// Push consumers: the most bytes handed to a connection listening on a subject and not yet written to its
    /// socket (the server's connections); the next step of a backlog waits while it exceeds ``pushBacklogLimit``.
    var deliveryBacklog: @Sendable (String) -> Int = { _ in 0 }
    /// Called once when the consumer has been inactive for its `inactive_threshold` (the service removes it).
    var onInactive: @Sendable (ConsumerHost) -> Void = { _ in }
    /// Push interest, idle heartbeats, flow-control re-sends and the inactivity check run on this timer.
    private var housekeeping: DispatchSourceTimer?
    private var lastSent: Int64 = 0
    /// When the consumer last delivered a message and last had one acknowledged (consumer info's
    /// `last_active`; 0 = not since the server started).
    private(set) var lastDelivered: Int64 = 0
    private(set) var lastAcknowledged: Int64 = 0
    /// Seconds from a delivery to its `+ACK`, and redeliveries sent, since the consumer was loaded
    /// (under `lock`; Strata's own metrics).
    private var ackSeconds = Histogram(bounds: Histogram.seconds)
    private var redeliveriesSent: UInt64 = 0
    /// Since when the consumer has had no waiting pull request (pull) or no interest (push); nil: active.
    private var inactiveSince: Int64?
    /// Flow control (push): bytes delivered since the last request, and the reply subject of the request
    /// not yet answered. Deliveries pause once another window has gone out with a request unanswered.
    /// Under `flowLock`, a leaf lock (taken inside the others, never around them), so that a step's
    /// effects are worked out without the engine's lock.
    private var bytesSinceFlowControl = 0
    private var flowControlPending: String?
    private var flowControlCount: UInt64 = 0
    private let flowLock = Lock()
    static let flowControlWindow = 256 << 10
    /// Persistence is coalesced: state changes mark the host dirty and a flush follows within 10 ms; an
    /// AckSync flushes before its reply (the reply means the ack is stored and synced). Saves go through
    /// the stream's writer; a snapshot is taken and queued under `saveLock`, so they are stored in the
    /// order of the states they hold (a later state is never overwritten by an earlier one).
    private var dirty = false
    private let saveLock = Lock()
    private let logger: Logger
    /// The time the engine runs on (``EngineClock`` unless a test gives another).
    private let clock: @Sendable () -> Int64
    private var flushScheduled = false
    /// A push backlog's next step is on its way (``continuePush(to:)``).
    private var pushContinuing = false
    /// The config as stored, encoded once (it changes only through an update).
    private var encodedConfig: Data?
    /// Messages read by the engine's lookups during one run, in the order read, for its deliveries (each
    /// is read once). An array, not a dictionary: the deliveries come in the same order, so each is found
    /// at the cursor of ``FetchedMessages`` without hashing.
    private var fetched: [StoredMessage] = []
    /// The next messages, read from the store a batch at a time, under `readLock` (taken inside `lock`
    /// by the engine's lookups, and alone by ``prefetch()``, which reads the store before the engine's
    /// lock is taken so that a tick's store read does not hold up the acks of other threads).
    private var readAhead = ReadAhead()
    private let readLock = Lock()

    init(engine: ConsumerEngine, created: Int64, store: any MessageStore,
         send: @escaping @Sendable ([OutboundMessage]) -> Void,
         hasInterest: @escaping @Sendable (String) -> Bool = { _ in true }, filterCoversStream: Bool = false,
         logger: Logger = Logger(label: "strata"), clock: @escaping @Sendable () -> Int64 = EngineClock.now) {
        self.filterCoversStream = filterCoversStream
        self.logger = logger
        self.clock = clock
        self.name = engine.name
        self.engine = engine
        self.created = created
        self.store = store
        self.send = send
        self.hasInterest = hasInterest
    }

    deinit { housekeeping?.cancel() }

    /// Starts the housekeeping timer when the consumer needs one: every `idle_heartbeat` (at most every
    /// second) for push consumers, and every quarter of `inactive_threshold` (at most every second) when set.
    func startHousekeeping() {
        let config = self.config
        var interval: Int64 = .max
        if config.deliverSubject != nil { interval = config.idleHeartbeat > 0 ? min(config.idleHeartbeat, 1_000_000_000) : 1_000_000_000 }
        if config.inactiveThreshold > 0 { interval = min(interval, max(config.inactiveThreshold / 4, 10_000_000), 1_000_000_000) }
        housekeeping?.cancel()
        housekeeping = nil
        guard interval < .max else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .nanoseconds(Int(interval)), repeating: .nanoseconds(Int(interval)))
        timer.setEventHandler { [weak self] in self?.housekeep() }
        housekeeping = timer
        timer.resume()
    }

    private func housekeep() {
        tick()
        let now = clock()
        let (engine, heartbeatDue, flowControl, inactive): (ConsumerEngine, Bool, String?, Bool) = lock.withLock {
            if deleted { return (self.engine, false, nil, false) }
            let config = self.engine.config
            let heartbeat = config.deliverSubject != nil && config.idleHeartbeat > 0 && self.engine.pushActive
                && now - lastSent >= config.idleHeartbeat
            if heartbeat { lastSent = now }
            let pendingRequest = flowLock.withLock { flowControlPending }
            let active = config.deliverSubject != nil ? self.engine.pushActive || pendingRequest != nil : self.engine.numWaiting > 0
            if active { inactiveSince = nil } else if inactiveSince == nil { inactiveSince = now }
            let inactive = config.inactiveThreshold > 0 && inactiveSince.map { now - $0 >= config.inactiveThreshold } == true
            return (self.engine, heartbeat, heartbeat ? pendingRequest : nil, inactive)
        }
        if inactive {
            onInactive(self)
            return
        }
        guard heartbeatDue, let subject = engine.config.deliverSubject else { return }
        var messages: [OutboundMessage] = [.status(to: subject, code: 100, description: "Idle Heartbeat",
                                                   extraHeaders: "Nats-Last-Consumer: \(engine.state.delivered.consumerSeq)\r\nNats-Last-Stream: \(engine.state.delivered.streamSeq)\r\n")]
        // An unanswered flow-control request is asked again (a client may have missed it).
        if let flowControl { messages.append(.status(to: subject, code: 100, description: "FlowControl Request", reply: flowControl)) }
        send(messages)
    }

    /// A client answered a flow-control request: deliveries resume.
    func flowControlAnswered(_ subject: String) {
        let resumed: Bool = flowLock.withLock {
            guard flowControlPending == subject else { return false }
            flowControlPending = nil
            return true
        }
        if resumed { tick() }
    }

    /// Changes the config (the service has checked what may change); the state is kept.
    func update(config: ConsumerConfig, filterCoversStream: Bool) {
        lock.withLock {
            engine.update(config: config)
            self.filterCoversStream = filterCoversStream
            encodedConfig = nil
            readLock.withLock { readAhead = ReadAhead() }
        }
        persist()
        startHousekeeping()
        tick()
    }

    var config: ConsumerConfig { lock.withLock { engine.config } }

    /// The engine as it is now (for retention decisions).
    var engineSnapshot: ConsumerEngine { lock.withLock { engine } }

    /// What consumer info and the monitoring endpoints show of a consumer.
    struct Figures: Sendable {
        var name: String
        var created: Int64
        var config: ConsumerConfig
        var delivered: (consumer: UInt64, stream: UInt64, last: Int64)
        var ackFloor: (consumer: UInt64, stream: UInt64, last: Int64)
        var numAckPending: Int
        var numRedelivered: Int
        var numWaiting: Int
        /// Messages still to deliver.
        var numPending: UInt64
        /// Strata's own: seconds from a delivery to its `+ACK`, and redeliveries sent, since it was loaded.
        var ackSeconds: Histogram
        var redeliveries: UInt64
    }

    func figures() -> Figures {
        let (engine, pending, lastDelivered, lastAcknowledged) = snapshot()
        let (ackSeconds, redeliveries) = lock.withLock { (self.ackSeconds, redeliveriesSent) }
        let state = engine.state
        return Figures(name: name, created: created, config: engine.config,
                       delivered: (state.delivered.consumerSeq, state.delivered.streamSeq, lastDelivered),
                       ackFloor: (state.ackFloor.consumerSeq, state.ackFloor.streamSeq, lastAcknowledged),
                       numAckPending: engine.numAckPending, numRedelivered: engine.numRedelivered, numWaiting: engine.numWaiting,
                       numPending: pending, ackSeconds: ackSeconds, redeliveries: redeliveries)
    }

    /// A snapshot for consumer info: the engine, messages still to deliver, and when it last delivered and
    /// last had a message acknowledged.
    func snapshot() -> (engine: ConsumerEngine, pending: UInt64, lastDelivered: Int64, lastAcknowledged: Int64) {
        let (engine, delivered, acknowledged, covers) = lock.withLock { (self.engine, lastDelivered, lastAcknowledged, filterCoversStream) }
        let initial = UInt64(engine.state.initialSequences?.count ?? 0)
        return (engine, initial + pendingCount(after: engine.state.delivered.streamSeq, covers: covers, filter: engine.config.filterSubject), delivered, acknowledged)
    }

    func pull(_ request: PullRequest) { run(pulling: true) { engine, now, lookup in engine.pull(request, now: now, lookup: lookup) } }

    /// Applies an ack at once (on the caller's thread). Returns the sequences the consumer released, for
    /// the stream's retention (the caller applies it). With `deliver` false, deliveries the ack allows wait
    /// for the next ``tick()``. An AckSync then calls ``flush(durable:completion:)``.
    func acknowledge(_ sequence: UInt64, _ kind: AckKind, deliver: Bool = true) -> [UInt64] {
        let released = run(delivers: deliver) { engine, now, lookup in
            if kind == .ack { recordAckLatency(of: sequence, in: engine, now: now) }
            return engine.acknowledge(streamSequence: sequence, kind, now: now, lookup: lookup, deliver: deliver)
        }
        if !released.isEmpty { lock.withLock { lastAcknowledged = clock() } }
        return released
    }

    /// Plain `+ACK`s gathered from one read (a stream with limits retention, no AckSync), applied in one
    /// engine step, then what they allow is delivered.
    func acknowledgeThenDeliver(_ sequences: [UInt64]) {
        let released = run { engine, now, lookup in
            var actions: [ConsumerAction] = []
            for sequence in sequences {
                recordAckLatency(of: sequence, in: engine, now: now)
                actions += engine.acknowledge(streamSequence: sequence, .ack, now: now, lookup: lookup, deliver: false)
            }
            return actions + engine.tick(now: now, lookup: lookup)
        }
        if !released.isEmpty {
            lock.withLock { lastAcknowledged = clock() }
            onAcknowledged(released) {}
        }
    }

    /// Under `lock` (inside a run): the time since `sequence` was last delivered, when it is pending.
    private func recordAckLatency(of sequence: UInt64, in engine: ConsumerEngine, now: Int64) {
        guard let delivered = engine.state.pending[sequence]?.deliveredAt else { return }
        ackSeconds.record(Double(max(0, now - delivered)) / 1e9)
    }

    /// New messages may be deliverable, or a deadline passed.
    func tick() { run { engine, now, lookup in engine.tick(now: now, lookup: lookup) } }

    /// Persists the current state now (on creation and update).
    func persist() { save(always: true, durable: false) { _ in } }

    /// Writes the state if it changed since the last write (the coalescing timer, shutdown).
    func flush() { save(always: false, durable: false) { _ in } }

    /// Writes the current state whether or not it changed, and with `durable` syncs the index; `completion`
    /// runs once it is stored, with false when the store refused it (a full or read-only file system; logged).
    /// An AckSync's reply waits for this: the state queued before it may still be on its way to the store,
    /// and this save is queued after it.
    func flush(durable: Bool, completion: @escaping @Sendable (_ stored: Bool) -> Void) {
        save(always: true, durable: durable) { outcome in completion(outcome != .refused) }
    }

    /// What became of a state snapshot handed to the store.
    private enum SaveOutcome { case stored, nothingToStore, refused }

    private func markDirty() {
        let schedule: Bool = lock.withLock {
            dirty = true
            if flushScheduled { return false }
            flushScheduled = true
            return true
        }
        guard schedule else { return }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(10)) { [weak self] in
            guard let self else { return }
            self.lock.withLock { self.flushScheduled = false }
            self.flush()
        }
    }

    /// Whether the consumer has been deleted (a cached reference to it is stale).
    var isDeleted: Bool { lock.withLock { deleted } }

    /// Stops the consumer and removes its record; true the first time (false when already deleted).
    @discardableResult
    func delete() -> Bool {
        // Under the save lock: a save whose snapshot was taken before is queued before the deletion, and
        // none is queued after it (a deleted consumer's record never comes back).
        saveLock.lock()
        let first: Bool = lock.withLock {
            defer { deleted = true }
            return !deleted
        }
        let (logger, name) = (self.logger, self.name)
        store.deleteConsumer(named: name) { result in
            if case .failure(let error) = result { logger.error("consumer \(name): its record could not be deleted: \(error)") }
        }
        saveLock.unlock()
        housekeeping?.cancel()
        return first
    }

    // MARK: Running the engine

    /// Runs an input; returns the sequences the consumer released (acknowledged or terminated).
    @discardableResult
    /// `delivers` false: the input cannot deliver (an ack applied without filling), so push interest is not
    /// looked up.
    /// `pulling`: the input is a pull request (the read-ahead is filled for it before the engine's lock is taken).
    private func run(delivers: Bool = true, pulling: Bool = false,
                     _ input: (inout ConsumerEngine, Int64, ConsumerEngine.Lookup) -> [ConsumerAction]) -> [UInt64] {
        let store = self.store
        if delivers { prefetch(pulling: pulling) }
        lock.lock()
        if deleted { lock.unlock(); return [] }
        // A filter that covers every subject of the stream reads like no filter (the store's fast path).
        let filter = filterCoversStream ? nil : engine.config.filterSubject
        if delivers, let subject = engine.config.deliverSubject {
            // Flow control: paused while a request is unanswered and another window has gone out since.
            let (held, sent) = flowLock.withLock { (flowControlPending != nil && bytesSinceFlowControl >= Self.flowControlWindow, bytesSinceFlowControl) }
            engine.pushActive = !held && hasInterest(subject)
            // One step sends at most the rest of the window: a backlog goes a window per answered request.
            // Without flow control, a step sends at most `pushStepBytes`, and the next one follows once the
            // subscriber's connection has written most of it (``continuePush(to:)``): a backlog is never built
            // in memory whole (it was, in one step, before), and other requests are served between steps.
            engine.pushByteBudget = engine.config.flowControl ? max(Self.flowControlWindow - sent, 1) : Self.pushStepBytes
        }
        let lookup: ConsumerEngine.Lookup = { sequence in
            guard let message = self.readLock.withLock({ self.readAhead.message(atOrAfter: sequence, filter: filter, in: store) }) else { return nil }
            self.fetched.append(message)
            return .init(sequence: message.sequence, subject: message.subject, size: message.payload.count + message.headers.count,
                         timestamp: message.timestamp)
        }
        let actions = input(&engine, clock(), lookup)
        for action in actions { if case .deliver(let delivery) = action, delivery.isRedelivery { redeliveriesSent += 1 } }
        let snapshot = engine
        let messages = FetchedMessages(fetched)
        let covers = filterCoversStream
        fetched = []
        guard !actions.isEmpty else {
            lock.unlock()
            schedule(snapshot.nextDeadline)
            return []
        }
        // Effects are carried out in the order of the engine's steps: the send lock is taken before the
        // engine's lock is let go, and the effects (store reads for pending counts) are worked out after.
        sendLock.lock()
        lock.unlock()
        let (outbound, persist) = effects(of: actions, engine: snapshot, messages: messages, covers: covers)
        if !outbound.isEmpty { send(outbound) }
        sendLock.unlock()
        if snapshot.config.ackPolicy == .none {
            // An ack-none consumer is done with a message once it is delivered: retention may let it go.
            let delivered = actions.compactMap { action -> UInt64? in
                if case .deliver(let delivery) = action { return delivery.streamSequence } else { return nil }
            }
            if !delivered.isEmpty { onAcknowledged(delivered) {} }
        }
        if outbound.contains(where: { $0.reply != nil }) {
            lock.withLock {
                lastSent = clock()
                lastDelivered = lastSent
            }
        }
        if persist { markDirty() }
        if snapshot.stoppedAtBudget && !snapshot.config.flowControl, let subject = snapshot.config.deliverSubject { continuePush(to: subject) }
        schedule(snapshot.nextDeadline)
        return actions.flatMap { action -> [UInt64] in
            if case .acknowledged(let sequences) = action { return sequences } else { return [] }
        }
    }

    /// Fills the read-ahead from the message after the last delivered, without the engine's lock, when
    /// the stream holds messages past it and the consumer can deliver them (a pull request waits or arrives,
    /// or a push consumer has interest): the lookups of the run that follows then find them read. A consumer
    /// that cannot deliver reads nothing (restored at start, a stream closed by the open-stream budget stays
    /// closed).
    private func prefetch(pulling: Bool) {
        let next: (sequence: UInt64, filter: String?)? = lock.withLock {
            let canDeliver = pulling || !engine.waiting.isEmpty || (engine.config.deliverSubject != nil && engine.pushActive)
            return deleted || !canDeliver ? nil : (engine.state.delivered.streamSeq + 1, filterCoversStream ? nil : engine.config.filterSubject)
        }
        guard let next, next.sequence <= store.state.lastSequence else { return }
        readLock.withLock { _ = readAhead.message(atOrAfter: next.sequence, filter: next.filter, in: store) }
    }

    /// The messages to send for an engine step's actions, and whether its state must be persisted.
    /// Called holding the send lock, not the engine's (it reads the store for pending counts); of the host's own
    /// state it touches only flow control, under `flowLock`.
    private func effects(of actions: [ConsumerAction], engine: ConsumerEngine, messages: FetchedMessages,
                         covers: Bool) -> ([OutboundMessage], Bool) {
        var persist = false
        var messages = messages
        var outbound: [OutboundMessage] = []
        outbound.reserveCapacity(actions.count)
        for action in actions {
            switch action {
            case .deliver(let delivery):
                // (try?: a message that cannot be read now is not sent; the engine redelivers it after its ack wait)
                guard let message = messages.take(delivery.streamSequence) ?? (try? store.message(sequence: delivery.streamSequence)) else { continue }
                let pending = UInt64(delivery.remainingInitial)
                    + pendingCount(after: max(delivery.streamSequence, delivery.remainingInitial > 0 ? engine.state.delivered.streamSeq : 0), covers: covers,
                                   filter: engine.config.filterSubject)
                let reply = ConsumerEngine.ackSubject(stream: engine.stream, consumer: engine.name, deliveries: delivery.deliveries,
                                                      streamSequence: delivery.streamSequence, consumerSequence: delivery.consumerSequence,
                                                      timestamp: message.timestamp, pending: pending)
                if engine.config.headersOnly {
                    var headers = message.headers.isEmpty ? "NATS/1.0\r\n" : String(decoding: message.headers.dropLast(2), as: UTF8.self)
                    headers += "Nats-Msg-Size: \(message.payload.count)\r\n\r\n"
                    outbound.append(OutboundMessage(to: delivery.to, subject: message.subject, reply: reply, headers: ByteBuffer(string: headers)))
                } else {
                    outbound.append(OutboundMessage(to: delivery.to, subject: message.subject, reply: reply,
                                                    headers: message.headers.isEmpty ? nil : ByteBuffer(bytes: message.headers),
                                                    payload: ByteBuffer(bytes: message.payload)))
                }
            case .status(let to, let code, let description):
                outbound.append(.status(to: to, code: code, description: description))
            case .requestExpired(let to, let messages, let bytes):
                outbound.append(.status(to: to, code: 408, description: "Request Timeout",
                                        extraHeaders: "Nats-Pending-Messages: \(messages)\r\nNats-Pending-Bytes: \(bytes)\r\n"))
            case .idleHeartbeat(let to):
                outbound.append(.status(to: to, code: 100, description: "Idle Heartbeat",
                                        extraHeaders: "Nats-Last-Consumer: \(engine.state.delivered.consumerSeq)\r\nNats-Last-Stream: \(engine.state.delivered.streamSeq)\r\n"))
            case .maxDeliveriesReached(let sequence, let deliveries):
                outbound.append(Self.event("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES", type: "io.nats.jetstream.advisory.v1.max_deliver", engine,
                                           #""stream_seq":\#(sequence),"deliveries":\#(deliveries)"#))
            case .ackSampled(let streamSequence, let consumerSequence, let deliveries, let ackTime):
                outbound.append(Self.event("$JS.EVENT.METRIC.CONSUMER.ACK", type: "io.nats.jetstream.metric.v1.consumer_ack", engine,
                                           #""consumer_seq":\#(consumerSequence),"stream_seq":\#(streamSequence),"ack_time":\#(ackTime),"deliveries":\#(deliveries)"#))
            case .acknowledged:
                break  // returned by run(); acknowledge() applies retention before it returns
            case .persist:
                persist = true
            }
        }
        if engine.config.flowControl, let subject = engine.config.deliverSubject {
            flowLock.lock()
            defer { flowLock.unlock() }
            for message in outbound where message.reply != nil { bytesSinceFlowControl += message.payload.readableBytes + (message.headers?.readableBytes ?? 0) }
            if bytesSinceFlowControl >= Self.flowControlWindow && flowControlPending == nil {
                flowControlCount += 1
                let reply = "$JS.FC.\(engine.stream).\(engine.name).\(flowControlCount)"
                flowControlPending = reply
                bytesSinceFlowControl = 0
                outbound.append(.status(to: subject, code: 100, description: "FlowControl Request", reply: reply))
            }
        }
        return (outbound, persist)
    }

    /// A JetStream event about this consumer on `<prefix>.<stream>.<consumer>`, as the reference writes one: its
    /// type, an id, the time, the stream and consumer, then `fields` (JSON members, without braces).
    private static func event(_ prefix: String, type: String, _ engine: ConsumerEngine, _ fields: String) -> OutboundMessage {
        let id = JetStreamService.ephemeralName() + JetStreamService.ephemeralName()
        let json = #"{"type":"\#(type)","id":"\#(id)","timestamp":"\#(JetStreamService.time(FileStream.systemClock()))","stream":"\#(engine.stream)","consumer":"\#(engine.name)",\#(fields)}"#
        return OutboundMessage(to: "\(prefix).\(engine.stream).\(engine.name)", payload: ByteBuffer(string: json))
    }

    /// Under `saveLock`: a `mem_storage` consumer's stored record, if any, has been removed.
    private var recordRemovedForMemory = false

    /// Takes a snapshot of the state (when `always`, or when it changed) and queues it for the store, under
    /// `saveLock` so that snapshots reach the store in the order they were taken. `completion` gets whether
    /// a record was stored, there was nothing to store (unchanged, deleted, or the server stopping after its
    /// final flush was queued), or the store refused it, which is logged.
    private func save(always: Bool, durable: Bool, completion: @escaping @Sendable (SaveOutcome) -> Void) {
        saveLock.lock()
        defer { saveLock.unlock() }
        let snapshot: ConsumerEngine? = lock.withLock {
            guard !deleted, always || dirty else { return nil }
            dirty = false
            return engine
        }
        guard let engine = snapshot else { completion(.nothingToStore); return }
        if engine.config.memoryStorage == true {
            // `mem_storage`: the state lives in memory only. A record stored before the consumer was switched
            // to memory is removed once, so that a restart does not bring back its old config and state.
            if !recordRemovedForMemory {
                recordRemovedForMemory = true
                let (logger, name) = (self.logger, self.name)
                store.deleteConsumer(named: name) { result in
                    if case .failure(let error) = result { logger.error("consumer \(name): its stored record could not be removed: \(error)") }
                }
            }
            completion(.stored)
            return
        }
        recordRemovedForMemory = false
        let config: Data = lock.withLock {
            // A config is plain Codable data: encoding it cannot fail.
            if encodedConfig == nil { encodedConfig = (try? JSONEncoder().encode(engine.config)) ?? Data() }
            return encodedConfig!
        }
        let pendingInOrder = engine.state.pending.keys.sorted()
        let state = StoredConsumerState(created: created, state: engine.state).encoded(pendingInOrder: pendingInOrder)
        let record = ConsumerRecord(name: engine.name, deliveredStreamSequence: engine.state.delivered.streamSeq,
                                    ackFloorStreamSequence: engine.state.ackFloor.streamSeq,
                                    pendingSequences: pendingInOrder, config: config, state: Data(state))
        let (logger, name) = (self.logger, self.name)
        store.saveConsumer(record, durable: durable) { result in
            switch result {
            case .success:
                completion(.stored)
            case .failure(.closed):
                completion(.nothingToStore)  // the server is stopping: the flush at shutdown was queued before
            case .failure(let error):
                logger.error("consumer \(name): state not stored: \(error)")
                completion(.refused)
            }
        }
    }

    /// Messages matching the filter after `sequence` (exact for a filter; for all subjects, from the
    /// stream's counters).
    ///
    /// A filtered count is kept (``PendingCount``) and moved forward by the messages between the last
    /// position and this one and those appended since: a run of deliveries costs what it delivers, not
    /// the stream's remaining matching messages each time (that was O(n²) over a backlog). Any removal
    /// that may have touched the counted range since makes it count afresh.
    private func pendingCount(after sequence: UInt64, covers: Bool, filter: String?) -> UInt64 {
        if filter == nil || filter == ">" || covers {
            let state = store.state
            guard state.lastSequence > sequence else { return 0 }
            return min(state.messages, state.lastSequence - max(sequence, state.firstSequence - 1))
        }
        let last = store.state.lastSequence
        return pendingLock.withLock {
            if let cached = pending, cached.filter == filter, sequence >= cached.after, last >= cached.through {
                let removals = store.removals(since: cached.removals, touching: (cached.after + 1)...max(cached.after + 1, last))
                if !removals.touched,
                   let passed = sequence > cached.after ? try? store.count(filter: filter, in: (cached.after + 1)...sequence) : 0,
                   let appended = last > cached.through ? try? store.count(filter: filter, in: (cached.through + 1)...last) : 0,
                   cached.count + appended >= passed {
                    let count = cached.count + appended - passed
                    pending = PendingCount(filter: filter, after: sequence, through: last, count: count, removals: removals.count)
                    return count
                }
            }
            let removals = store.removals(since: 0, touching: 0...0).count
            // A count that cannot be read shows as 0 pending in the delivery's ack subject; nothing depends on it.
            guard let count = try? store.count(filter: filter, in: (sequence + 1)...max(sequence + 1, last)) else {
                pending = nil
                return 0
            }
            pending = last > sequence ? PendingCount(filter: filter, after: sequence, through: last, count: count, removals: removals) : nil
            return last > sequence ? count : 0
        }
    }

    /// A filtered pending count: `count` messages matched in (`after`, `through`] when the store's removal
    /// count was `removals`.
    private struct PendingCount {
        var filter: String?
        var after: UInt64
        var through: UInt64
        var count: UInt64
        var removals: UInt64
    }
    private let pendingLock = Lock()
    private var pending: PendingCount?

    /// The bytes one step of a push consumer without flow control may send.
    static let pushStepBytes = 1 << 20
    /// The next step of a push backlog waits while a subscriber's connection holds more than this unwritten.
    static let pushBacklogLimit = 4 << 20

    /// Runs the next step of a push backlog (after a step stopped at ``pushStepBytes``), once the subscriber's
    /// connection has written all but ``pushBacklogLimit`` of what it was handed; looks again every
    /// millisecond until then. One continuation at a time.
    private func continuePush(to subject: String) {
        let start: Bool = lock.withLock {
            if pushContinuing { return false }
            pushContinuing = true
            return true
        }
        guard start else { return }
        pushWhenWritten(to: subject, after: .now())
    }

    /// The next step of a push backlog at `when`, or a millisecond later again while the subscriber's
    /// connection still holds too much unwritten.
    private func pushWhenWritten(to subject: String, after when: DispatchTime) {
        DispatchQueue.global().asyncAfter(deadline: when) { [weak self] in
            guard let self else { return }
            if !self.isDeleted && self.deliveryBacklog(subject) > Self.pushBacklogLimit {
                self.pushWhenWritten(to: subject, after: .now() + .milliseconds(1))
                return
            }
            self.lock.withLock { self.pushContinuing = false }
            self.tick()
        }
    }

    /// Arranges a tick at `deadline` (ns), unless one is already due sooner.
    private func schedule(_ deadline: Int64?) {
        guard let deadline else { return }
        let due: Bool = lock.withLock {
            if let scheduled, scheduled <= deadline { return false }
            scheduled = deadline
            return true
        }
        guard due else { return }
        let delay = max(0, deadline - clock())
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(min(delay, Int64(Int32.max) * 1_000_000)))) { [weak self] in
            guard let self else { return }
            self.lock.withLock { if self.scheduled == deadline { self.scheduled = nil } }
            self.tick()
        }
    }
}

/// The messages one engine run read, in the order read, and a cursor: its deliveries ask for them in
/// about that order (a message looked up and put back, or read twice, is found by a scan).
struct FetchedMessages {
    private let messages: [StoredMessage]
    private var cursor = 0

    init(_ messages: [StoredMessage]) { self.messages = messages }

    /// The message with `sequence`, if the run read it.
    mutating func take(_ sequence: UInt64) -> StoredMessage? {
        if cursor < messages.count, messages[cursor].sequence == sequence {
            cursor += 1
            return messages[cursor - 1]
        }
        guard let index = messages[cursor...].firstIndex(where: { $0.sequence == sequence })
                ?? messages.lastIndex(where: { $0.sequence == sequence }) else { return nil }
        cursor = index + 1
        return messages[index]
    }
}
