import Consumers
import Foundation
import NATSProtocol
import NIOCore
import StreamStore

/// Runs one consumer: its pure ``ConsumerEngine`` under a lock, the timer that ticks it at its next
/// deadline, and the effects of its actions (deliveries and status messages through the server,
/// persistence through the stream's consumer records).
final class ConsumerHost: @unchecked Sendable {
    let name: String
    let created: Int64
    private let lock = NSLock()
    private var engine: ConsumerEngine
    private let store: any MessageStore
    private let send: @Sendable (_ to: String, _ subject: String, _ reply: String?, _ headers: ByteBuffer?, _ payload: ByteBuffer) -> Void
    private var scheduled: Int64?
    private var deleted = false
    /// Push consumers: whether anyone listens on a subject (the server's router), a timer that re-checks
    /// interest and sends idle heartbeats, and when the consumer last sent something.
    private let hasInterest: @Sendable (String) -> Bool
    /// The filter matches every subject of the stream: pending counts come from the stream's counters.
    private let filterCoversStream: Bool
    /// Applies the stream's retention to messages this consumer is done with (set by the service).
    var onAcknowledged: @Sendable ([UInt64]) async -> Void = { _ in }
    private var pushTimer: DispatchSourceTimer?
    private var lastSent: Int64 = 0
    /// Persistence is coalesced: state changes mark the host dirty and a flush follows within 10 ms; an
    /// AckSync flushes before its reply (the reply means the ack is stored).
    private var dirty = false
    private var flushScheduled = false

    init(engine: ConsumerEngine, created: Int64, store: any MessageStore,
         send: @escaping @Sendable (String, String, String?, ByteBuffer?, ByteBuffer) -> Void,
         hasInterest: @escaping @Sendable (String) -> Bool = { _ in true }, filterCoversStream: Bool = false) {
        self.filterCoversStream = filterCoversStream
        self.name = engine.name
        self.engine = engine
        self.created = created
        self.store = store
        self.send = send
        self.hasInterest = hasInterest
        if engine.config.deliverSubject != nil { startPushTimer(heartbeat: engine.config.idleHeartbeat) }
    }

    deinit { pushTimer?.cancel() }

    /// Every `idle_heartbeat` (at most every second): re-check interest and deliver; when nothing was sent
    /// for a whole heartbeat interval, send `100 Idle Heartbeat` with the last sequences.
    private func startPushTimer(heartbeat: Int64) {
        let interval = heartbeat > 0 ? min(heartbeat, 1_000_000_000) : 1_000_000_000
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .nanoseconds(Int(interval)), repeating: .nanoseconds(Int(interval)))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            self.tick()
            guard heartbeat > 0 else { return }
            let now = FileStream.systemClock()
            let (due, engine): (Bool, ConsumerEngine) = self.lock.withLock {
                let due = !self.deleted && self.engine.pushActive && now - self.lastSent >= heartbeat
                if due { self.lastSent = now }
                return (due, self.engine)
            }
            if due, let subject = engine.config.deliverSubject {
                let headers = "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: \(engine.state.delivered.consumerSeq)\r\nNats-Last-Stream: \(engine.state.delivered.streamSeq)\r\n\r\n"
                self.send(subject, subject, nil, ByteBuffer(string: headers), ByteBuffer())
            }
        }
        pushTimer = timer
        timer.resume()
    }

    var config: ConsumerConfig { lock.withLock { engine.config } }

    /// The engine as it is now (for retention decisions).
    var engineSnapshot: ConsumerEngine { lock.withLock { engine } }

    /// A snapshot for consumer info: (engine, messages still to deliver).
    func snapshot() -> (ConsumerEngine, UInt64) {
        let engine = lock.withLock { self.engine }
        let initial = UInt64(engine.state.initialSequences?.count ?? 0)
        return (engine, initial + pendingCount(after: engine.state.delivered.streamSeq, filter: engine.config.filterSubject))
    }

    func pull(_ request: PullRequest) { run { engine, now, lookup in engine.pull(request, now: now, lookup: lookup) } }

    /// Applies an ack; returns once the stream's retention has dealt with what it released.
    /// Applies an ack; with `durable` (an AckSync) the state is stored before it returns.
    func acknowledge(_ sequence: UInt64, _ kind: AckKind, durable: Bool) async {
        let released = run { engine, now, lookup in engine.acknowledge(streamSequence: sequence, kind, now: now, lookup: lookup) }
        if durable { flush() }
        if !released.isEmpty { await onAcknowledged(released) }
    }

    /// New messages may be deliverable, or a deadline passed.
    func tick() { run { engine, now, lookup in engine.tick(now: now, lookup: lookup) } }

    /// Persists the current state now (on creation).
    func persist() { save(lock.withLock { engine }) }

    /// Writes the state if it changed since the last write.
    func flush() {
        let snapshot: ConsumerEngine? = lock.withLock {
            guard dirty, !deleted else { return nil }
            dirty = false
            return engine
        }
        if let snapshot { save(snapshot) }
    }

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

    func delete() {
        lock.withLock { deleted = true }
        pushTimer?.cancel()
        _ = try? store.deleteConsumer(named: name)
    }

    // MARK: Running the engine

    /// Runs an input; returns the sequences the consumer released (acknowledged or terminated).
    @discardableResult
    private func run(_ input: (inout ConsumerEngine, Int64, ConsumerEngine.Lookup) -> [ConsumerAction]) -> [UInt64] {
        let store = self.store
        lock.lock()
        if deleted { lock.unlock(); return [] }
        let filter = engine.config.filterSubject
        if let subject = engine.config.deliverSubject { engine.pushActive = hasInterest(subject) }
        let lookup: ConsumerEngine.Lookup = { sequence in
            guard let message = try? store.next(atOrAfter: sequence, filter: filter) else { return nil }
            return .init(sequence: message.sequence, subject: message.subject, size: message.payload.count + message.headers.count,
                         timestamp: message.timestamp)
        }
        let actions = input(&engine, FileStream.systemClock(), lookup)
        let snapshot = engine
        lock.unlock()
        perform(actions, engine: snapshot)
        schedule(snapshot.nextDeadline)
        return actions.flatMap { action -> [UInt64] in
            if case .acknowledged(let sequences) = action { return sequences } else { return [] }
        }
    }

    private func perform(_ actions: [ConsumerAction], engine: ConsumerEngine) {
        var persist = false
        for action in actions {
            switch action {
            case .deliver(let delivery):
                guard let message = try? store.message(sequence: delivery.streamSequence) else { continue }
                let pending = UInt64(delivery.remainingInitial)
                    + pendingCount(after: max(delivery.streamSequence, delivery.remainingInitial > 0 ? engine.state.delivered.streamSeq : 0),
                                   filter: engine.config.filterSubject)
                let reply = ConsumerEngine.ackSubject(stream: engine.stream, consumer: engine.name, deliveries: delivery.deliveries,
                                                      streamSequence: delivery.streamSequence, consumerSequence: delivery.consumerSequence,
                                                      timestamp: message.timestamp, pending: pending)
                if engine.config.headersOnly {
                    var headers = message.headers.isEmpty ? "NATS/1.0\r\n" : String(decoding: message.headers.dropLast(2), as: UTF8.self)
                    headers += "Nats-Msg-Size: \(message.payload.count)\r\n\r\n"
                    send(delivery.to, message.subject, reply, ByteBuffer(string: headers), ByteBuffer())
                } else {
                    send(delivery.to, message.subject, reply, message.headers.isEmpty ? nil : ByteBuffer(bytes: message.headers),
                         ByteBuffer(bytes: message.payload))
                }
                lock.withLock { lastSent = FileStream.systemClock() }
            case .status(let to, let code, let description):
                send(to, to, nil, ByteBuffer(string: "NATS/1.0 \(code) \(description)\r\n\r\n"), ByteBuffer())
            case .maxDeliveriesReached(let sequence, let deliveries):
                let advisory = #"{"type":"io.nats.jetstream.advisory.v1.max_deliver","stream":"\#(engine.stream)","consumer":"\#(engine.name)","stream_seq":\#(sequence),"deliveries":\#(deliveries)}"#
                let subject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.\(engine.stream).\(engine.name)"
                send(subject, subject, nil, nil, ByteBuffer(string: advisory))
            case .acknowledged:
                break  // returned by run(); acknowledge() applies retention before it returns
            case .persist:
                persist = true
            }
        }
        if persist { markDirty() }
    }

    private func save(_ engine: ConsumerEngine) {
        guard let config = try? JSONEncoder().encode(engine.config),
              let state = try? JSONEncoder().encode(PersistedState(created: created, state: engine.state)) else { return }
        let record = ConsumerRecord(name: engine.name, deliveredStreamSequence: engine.state.delivered.streamSeq,
                                    ackFloorStreamSequence: engine.state.ackFloor.streamSeq,
                                    pendingSequences: engine.state.pending.keys.sorted(), config: config, state: state)
        try? store.saveConsumer(record)
    }

    /// What a consumer record's `state` blob holds.
    struct PersistedState: Codable {
        var created: Int64
        var state: ConsumerState
    }

    /// Messages matching the filter after `sequence` (exact for a filter; for all subjects, from the
    /// stream's counters).
    private func pendingCount(after sequence: UInt64, filter: String?) -> UInt64 {
        if filter == nil || filter == ">" || filterCoversStream {
            let state = store.state
            guard state.lastSequence > sequence else { return 0 }
            return min(state.messages, state.lastSequence - max(sequence, state.firstSequence - 1))
        }
        return (try? store.count(filter: filter, atOrAfter: sequence + 1)) ?? 0
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
        let delay = max(0, deadline - FileStream.systemClock())
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(min(delay, Int64(Int32.max) * 1_000_000)))) { [weak self] in
            guard let self else { return }
            self.lock.withLock { if self.scheduled == deadline { self.scheduled = nil } }
            self.tick()
        }
    }
}
