#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NATSProtocol
import NIOCore
import Platform
import StreamStore

/// Keeps one stream fed from its mirror's origin, or from each of its sources, as nats-server 2.9.10 does
/// (Specs/Protocol.md, "Mirrors and sources"). For each origin it subscribes a delivery subject of its
/// own, asks the origin's JetStream (here, or behind an external API prefix across a leaf connection) for
/// an ephemeral push consumer starting after the last origin sequence it holds, and stores what arrives in
/// order: a mirror at the origin's sequences with the origin's timestamps, a source as its next messages
/// with a `Nats-Stream-Source` header. A consumer that goes quiet for 3 s, misses a message or fails is
/// replaced, from the last origin sequence taken, at most every 2 s; so a disconnect loses nothing and
/// stores nothing twice. Flow control is answered once the messages before it are stored.
///
/// Decisions are ``SourceTracker``'s; this class does the I/O. Its state is guarded by one lock. With it
/// held it hands messages to the store (which does not wait; completions hop to ``Link/loop``) and
/// subscribes (the router calls nothing back); what it publishes goes from the loop, after the lock is
/// released and off the stack of whatever delivered to it (a publish may deliver straight back here).
final class StreamSourcing: @unchecked Sendable {
    /// What sourcing needs of the server: subscriptions of its own in the stream's account, publishing
    /// there, and an event loop for its timer and store completions.
    struct Link: Sendable {
        var subscribe: @Sendable (_ subject: String, _ receiver: @escaping @Sendable (InternalDelivery) -> Void) -> Subscription
        var unsubscribe: @Sendable (Subscription) -> Void
        var publish: @Sendable (_ subject: String, _ reply: String?, _ payload: String) -> Void
        var loop: any EventLoop
    }

    /// One mirror's or source's origin, and the consumer reading it.
    private final class Origin {
        let config: APIStreamSource
        let indexName: String
        var tracker: SourceTracker
        /// The last origin sequence the store holds (what a failed append goes back to).
        var stored: UInt64
        var delivery: Subscription?
        var response: Subscription?
        /// When the consumer request went (nil: none in flight).
        var requested: NIODeadline?
        var lastRequest = NIODeadline.uptimeNanoseconds(0)
        /// When anything last came from the consumer (its stall check).
        var lastHeard = NIODeadline.now()
        /// Wall clock of the last message or heartbeat (stream info's `active`; nil: never).
        var lastActive: Int64?
        /// Deliveries that came before the consumer-create response (handled after it).
        var early: [InternalDelivery] = []
        var error: APIError?
        /// Counts consumer setups: a failed append of an earlier consumer's message does not undo a later setup.
        var generation = 0
        /// The origin sequence of the last append this consumer handed to the store (nil: none yet): a
        /// mirror's next append expects it as the stream's last, so that nothing is stored after a failed one.
        var lastIssued: UInt64?
        /// The last append failure logged (cleared by a stored message): a full stream is asked again every
        /// 2 s, and says so once.
        var lastFailure: String?
        init(config: APIStreamSource, kind: SourceTracker.Kind, stored: UInt64) {
            self.config = config
            indexName = SourceHeader.indexName(of: config)
            tracker = SourceTracker(kind: kind, streamSequence: stored)
            self.stored = stored
        }
    }

    static let stallAfter = TimeAmount.seconds(3)
    static let retryEvery = TimeAmount.seconds(2)
    static let responseTimeout = TimeAmount.seconds(5)

    let streamName: String
    let isMirror: Bool
    private let link: Link
    private unowned let service: JetStreamService
    private let logger: Logger
    private let lock = Lock()
    private var origins: [Origin] = []
    private var timer: RepeatedTask?
    private var stopped = false
    /// Appends handed to the store and completed (flow control waits for the ones before it).
    private var issued = 0, completed = 0
    private var answers: [(after: Int, subject: String)] = []
    /// Messages to publish once the lock is released.
    private var outbox: [(subject: String, reply: String?, payload: String)] = []

    /// Runs `body` with the lock held, then publishes what it queued, from the loop: never on the caller's
    /// stack, which may be a local consumer's delivery (holding that consumer's locks), and a flow-control
    /// answer runs that consumer again.
    private func locked(_ body: () -> Void) {
        let out: [(subject: String, reply: String?, payload: String)] = lock.withLock {
            body()
            defer { outbox.removeAll() }
            return outbox
        }
        guard !out.isEmpty else { return }
        let link = self.link
        link.loop.execute { for message in out { link.publish(message.subject, message.reply, message.payload) } }
    }

    init(stream: StreamManager.Managed, service: JetStreamService, link: Link, logger: Logger) {
        streamName = stream.config.name
        isMirror = stream.config.mirror != nil
        self.link = link
        self.service = service
        self.logger = logger
        let state = stream.store.state
        if let mirror = stream.config.mirror {
            origins = [Origin(config: mirror, kind: .mirror, stored: state.lastSequence)]
        } else {
            let resume = Self.resumePoints(in: stream.store)
            origins = (stream.config.sources ?? []).map { source in
                Origin(config: source, kind: .source, stored: resume[SourceHeader.indexName(of: source)] ?? 0)
            }
        }
    }

    /// Where each source left off: the origin sequence in the newest `Nats-Stream-Source` header of each
    /// index name, found by reading the stream backwards (as the reference does at start).
    static func resumePoints(in store: any MessageStore) -> [String: UInt64] {
        let state = store.state
        guard state.messages > 0 else { return [:] }
        var found: [String: UInt64] = [:]
        var sequence = state.lastSequence
        // (a page at a time from the end; try?: a read that fails stops the scan, and those sources start over
        // from what was found, their duplicates dropped by message id where they carry one)
        var scanned = 0
        while sequence >= state.firstSequence && sequence > 0 && scanned < 1_000_000 {
            let from = sequence >= 256 ? max(sequence - 255, state.firstSequence) : state.firstSequence
            guard let page = try? store.messages(from: from, filter: nil, limit: Int(sequence - from + 1)) else { break }
            for message in page.reversed() where !message.headers.isEmpty {
                guard let value = NATSHeaders.parse(ByteBuffer(bytes: message.headers)).first(where: { $0.name == SourceHeader.name })?.value,
                      let (name, origin) = SourceHeader.parse(value), found[name] == nil else { continue }
                found[name] = origin
            }
            scanned += page.count
            if from <= state.firstSequence { break }
            sequence = from - 1
        }
        return found
    }

    func start() {
        locked { for origin in origins { setUp(origin) } }
        timer = link.loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in self?.check() }
    }

    func stop() {
        let subscriptions: [Subscription] = lock.withLock {
            stopped = true
            defer { for origin in origins { origin.delivery = nil; origin.response = nil } }
            return origins.flatMap { [$0.delivery, $0.response].compactMap { $0 } }
        }
        timer?.cancel()
        for subscription in subscriptions { link.unsubscribe(subscription) }
    }

    /// Stream info's `mirror` (one entry) or `sources`: name, lag, active (ns since the origin was last
    /// heard from, -1 before), external, and the last setup error.
    func info() -> [[String: Any]] {
        let now = FileStream.systemClock()
        return lock.withLock {
            origins.map { origin in
                var entry: [String: Any] = ["name": origin.config.name, "lag": origin.tracker.lag,
                                            "active": origin.lastActive.map { max(now - $0, 0) } ?? -1]
                if let external = origin.config.external { entry["external"] = ["api": external.api, "deliver": external.deliver] }
                if let error = origin.error {
                    entry["error"] = ["code": error.code, "err_code": error.errCode, "description": error.description]
                }
                return entry
            }
        }
    }

    // MARK: Consumers (lock held)

    /// Drops the current consumer's subscriptions and asks for a new one, unless one was asked for less
    /// than 2 s ago (the timer asks then).
    private func setUp(_ origin: Origin) {
        guard !stopped else { return }
        cancel(origin)
        let now = NIODeadline.now()
        guard now - origin.lastRequest >= Self.retryEvery else { return }
        origin.lastRequest = now
        origin.lastHeard = now
        origin.generation += 1
        origin.lastIssued = nil
        let random = JetStreamService.ephemeralName() + JetStreamService.ephemeralName()
        let deliver = SourceConsumerRequest.deliverSubject(mirror: isMirror, external: origin.config.external, random: random)
        let request = SourceConsumerRequest(origin: origin.config, deliverSubject: deliver, start: start(for: origin),
                                            name: (isMirror ? "mirror-" : "src-") + JetStreamService.ephemeralName())
        let reply = "$JS.SRC.R." + random
        let id = ObjectIdentifier(origin), generation = origin.generation
        // (a message routed to an earlier consumer's subscription just before it went is dropped by its generation)
        origin.delivery = link.subscribe(deliver) { [weak self] message in self?.received(message, for: id, generation: generation) }
        origin.response = link.subscribe(reply) { [weak self] message in self?.responded(message, for: id, generation: generation) }
        origin.requested = now
        outbox.append((request.subject, reply, request.body))
    }

    private func cancel(_ origin: Origin) {
        origin.tracker.cancel()
        origin.requested = nil
        origin.early.removeAll()
        for subscription in [origin.delivery, origin.response].compactMap({ $0 }) { link.unsubscribe(subscription) }
        origin.delivery = nil
        origin.response = nil
    }

    /// Where a new consumer starts: after the last origin sequence taken; the first time, at the
    /// configured start (a source added to a stream that has messages: at its last message's time).
    private func start(for origin: Origin) -> SourceConsumerRequest.Start {
        let next = origin.tracker.nextSequence
        if next > 1 { return .sequence(next) }
        if origin.config.optStartSeq > 0 { return .sequence(origin.config.optStartSeq) }
        if let time = origin.config.optStartTime { return .time(time) }
        if !isMirror, let stream = service.streams.stream(named: streamName), stream.store.state.messages > 0 {
            return .time(JetStreamService.time(stream.store.state.lastTimestamp))
        }
        return .all
    }

    private func origin(_ id: ObjectIdentifier) -> Origin? { origins.first { ObjectIdentifier($0) == id } }

    // MARK: Messages (any thread)

    private func responded(_ message: InternalDelivery, for id: ObjectIdentifier, generation: Int) {
        struct Response: Decodable {
            struct Delivered: Decodable {
                var streamSeq: UInt64
                enum CodingKeys: String, CodingKey { case streamSeq = "stream_seq" }
            }
            var name: String?
            var delivered: Delivered?
            var error: APIError?
        }
        // (try?: a response that does not decode is treated as a failed setup, retried)
        let response = try? JSONDecoder().decode(Response.self, from: Data(message.payload.readableBytesView))
        var unsubscribe: Subscription?
        locked {
            guard !stopped, let origin = origin(id), origin.generation == generation, origin.requested != nil else { return }
            unsubscribe = origin.response
            origin.response = nil
            guard let response, let name = response.name, response.error == nil else {
                let error = response?.error ?? APIError(code: 500, errCode: isMirror ? 10029 : 10045, description: "invalid consumer create response")
                // (logged when it changes: an origin that is gone is asked again every 2 s)
                if origin.error != error {
                    logger.warning("stream \(streamName): \(isMirror ? "mirror" : "source") consumer on \(origin.config.name) not created: \(error.description)")
                }
                origin.error = error
                cancel(origin)
                return
            }
            if origin.error != nil { logger.notice("stream \(streamName): \(isMirror ? "mirror" : "source") consumer on \(origin.config.name) created") }
            origin.error = nil
            origin.requested = nil
            origin.tracker.created(consumer: name, delivered: response.delivered?.streamSeq ?? 0)
            let early = origin.early
            origin.early.removeAll()
            for delivery in early { handle(delivery, origin) }
        }
        if let unsubscribe { link.unsubscribe(unsubscribe) }
    }

    private func received(_ message: InternalDelivery, for id: ObjectIdentifier, generation: Int) {
        locked {
            guard !stopped, let origin = origin(id), origin.generation == generation else { return }
            if origin.requested != nil {
                if origin.early.count < 100_000 { origin.early.append(message) }
                return
            }
            handle(message, origin)
        }
    }

    /// One message from the origin's consumer (lock held).
    private func handle(_ message: InternalDelivery, _ origin: Origin) {
        origin.lastHeard = .now()
        origin.lastActive = FileStream.systemClock()
        let headers = message.headers.map { Array($0.readableBytesView) } ?? []
        if message.payload.readableBytes == 0, headers.starts(with: Array("NATS/1.0 100 ".utf8)) {
            let fields = NATSHeaders.parse(message.headers!)
            let last = fields.first { $0.name == "Nats-Last-Consumer" }.flatMap { UInt64($0.value) }
            let stalled = fields.first { $0.name == "Nats-Consumer-Stalled" }?.value
            switch origin.tracker.control(reply: message.reply, lastConsumer: last, stalled: stalled) {
            case .answer(let subject): answer(subject)
            case .retry: setUp(origin)
            case .ignore, .store: break
            }
            return
        }
        guard let reply = message.reply, let info = DeliveryInfo(ackReply: reply) else { return }
        switch origin.tracker.message(info) {
        case .store(let info): store(message, headers: headers, info: info, origin)
        case .retry: setUp(origin)
        case .ignore, .answer: break
        }
    }

    /// Flow control is answered once the appends before it have completed: the origin's consumer is paced
    /// by the store (answering as soon as they are queued let a local origin fill the loop, and API requests
    /// waited up to 2.4 s behind it).
    private func answer(_ subject: String) {
        if completed == issued { outbox.append((subject, nil, "")) } else { answers.append((issued, subject)) }
    }

    private func store(_ message: InternalDelivery, headers: [UInt8], info: DeliveryInfo, _ origin: Origin) {
        guard let stream = service.streams.stream(named: streamName) else { return }
        var request: AppendRequest
        if isMirror {
            request = AppendRequest(subject: message.subject, headers: headers, payload: Array(message.payload.readableBytesView))
            request.sequence = info.streamSequence
            request.timestamp = info.timestamp
            request.expectations.lastSequence = origin.lastIssued
            origin.lastIssued = info.streamSequence
        } else {
            let value = SourceHeader.value(indexName: origin.indexName, sequence: info.streamSequence)
            let fields = headers.isEmpty ? [] : NATSHeaders.parse(message.headers!)
            request = AppendRequest(subject: message.subject, headers: Self.headers(headers, setting: value),
                                    payload: Array(message.payload.readableBytesView),
                                    messageID: fields.first { $0.name == "Nats-Msg-Id" }?.value)
        }
        issued += 1
        let id = ObjectIdentifier(origin)
        let sequence = info.streamSequence
        let generation = origin.generation
        service.storeSourced(request, in: stream, on: link.loop) { [weak self] result in
            self?.stored(result, sequence: sequence, generation: generation, for: id)
        }
    }

    /// An append's outcome (on the loop, in the order of the appends).
    private func stored(_ result: Result<AppendResult, StoreError>, sequence: UInt64, generation: Int, for id: ObjectIdentifier) {
        locked {
            completed += 1
            while let first = answers.first, first.after <= completed {
                outbox.append((first.subject, nil, ""))
                answers.removeFirst()
            }
            guard !stopped, let origin = origin(id) else { return }
            switch result {
            case .success:
                origin.stored = max(origin.stored, sequence)
                origin.lastFailure = nil
            case .failure(let error):
                // Once per consumer: the appends after a failed one fail too (a mirror's expect the one before
                // them), and are asked again with the rest. (The store's failure itself is logged by the
                // service, once while it lasts.)
                guard generation == origin.generation else { return }
                if isMirror, let last = service.streams.stream(named: streamName)?.store.state.lastSequence {
                    origin.stored = max(origin.stored, last)  // (a message it already holds, offered again)
                }
                if case .wrongLastSequence = error {} else if origin.lastFailure != "\(error)" {
                    origin.lastFailure = "\(error)"
                    logger.info("stream \(streamName): message \(sequence) of \(origin.config.name) not stored (\(error)); asking again from \(origin.stored + 1) every 2 s")
                }
                origin.tracker.rewind(to: origin.stored)
                setUp(origin)
            }
        }
    }

    /// The timer: replaces stalled consumers, retries failed setups, and gives up on unanswered requests.
    private func check() {
        locked {
            guard !stopped else { return }
            let now = NIODeadline.now()
            for origin in origins {
                if let requested = origin.requested {
                    if now - requested >= Self.responseTimeout { setUp(origin) }
                } else if origin.delivery == nil || now - origin.lastHeard >= Self.stallAfter {
                    setUp(origin)
                }
            }
        }
    }

    /// `headers` (a header block, or empty) with `Nats-Stream-Source: value` in place of any it had.
    static func headers(_ headers: [UInt8], setting value: String) -> [UInt8] {
        var lines = headers.isEmpty ? ["NATS/1.0"] : String(decoding: headers, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
        lines.removeAll { $0.lowercased().hasPrefix(SourceHeader.name.lowercased() + ":") }
        lines.append(SourceHeader.name + ": " + value)
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }
}
