import Consumers
import Foundation
import NATSProtocol
import NIOCore
import StreamStore
import Subjects

/// Pull consumers: `CONSUMER.CREATE|DURABLE.CREATE|INFO|DELETE|NAMES|LIST`, `CONSUMER.MSG.NEXT`, and acks on
/// `$JS.ACK.<stream>.<consumer>.…`.
extension JetStreamService {
    /// Restores the consumers stored with each stream (on start, once delivery is possible).
    func restoreConsumers() {
        for stream in streams.all {
            for record in (try? stream.store.consumers()) ?? [] {
                guard let config = try? JSONDecoder().decode(ConsumerConfig.self, from: record.config),
                      let saved = StoredConsumerState(decoding: Array(record.state)) else { continue }
                let engine = ConsumerEngine(stream: stream.config.name, name: record.name, config: config, startSequence: 1, state: saved.state)
                let host = ConsumerHost(engine: engine, created: saved.created, store: stream.store, send: send, hasInterest: hasInterest,
                                        filterCoversStream: Self.covers(config.filterSubject, stream))
                attach(host, to: stream)
                stream.consumers[record.name] = host
                host.tick()
            }
        }
    }

    func consumerRequest(_ tokens: [String], body: Data, reply: String?) async -> String? {
        // tokens: CONSUMER, <op>, ...
        let op = tokens.count > 1 ? tokens[1] : ""
        switch op {
        case "CREATE", "DURABLE":
            let durable = op == "DURABLE"
            let args = Array(tokens.dropFirst(durable ? 3 : 2))
            guard let streamName = args.first, let stream = streams.stream(named: streamName) else {
                return error("consumer_create_response", .streamNotFound)
            }
            struct Request: Decodable { var config: ConsumerConfig? }
            guard let request = try? JSONDecoder().decode(Request.self, from: body), var config = request.config else {
                return error("consumer_create_response", .invalidJSON)
            }
            if args.count >= 2 { config.durableName = config.durableName ?? (durable ? args[1] : nil); config.name = config.name ?? args[1] }
            if args.count >= 3 { config.filterSubject = config.filterSubject ?? args[2...].joined(separator: ".") }
            if config.filterSubject == ">" { config.filterSubject = nil }
            if config.deliverSubject == nil && config.ackPolicy == .none {
                return error("consumer_create_response", APIError(code: 400, errCode: 10084, description: "consumer in pull mode requires ack policy"))
            }
            let name = config.durableName ?? config.name ?? Self.ephemeralName()
            // Ephemeral consumers go after 5 s without activity unless told otherwise (as the reference).
            if config.durableName == nil && config.inactiveThreshold == 0 { config.inactiveThreshold = 5_000_000_000 }
            if stream.config.retention == .workqueue && stream.consumers[name] == nil {
                if config.deliverPolicy != .all {
                    return error("consumer_create_response", APIError(code: 400, errCode: 10101, description: "consumer must be deliver all on workqueue stream"))
                }
                for other in stream.consumers.all {
                    let a = config.filterSubject ?? ">", b = other.config.filterSubject ?? ">"
                    if a == ">" && b == ">" {
                        return error("consumer_create_response", APIError(code: 400, errCode: 10099, description: "multiple non-filtered consumers not allowed on workqueue stream"))
                    }
                    if Subject.overlaps(a, b) {
                        return error("consumer_create_response", APIError(code: 400, errCode: 10100, description: "filtered consumer not unique on workqueue stream"))
                    }
                }
            }
            if config.name == nil { config.name = name }
            if let existing = stream.consumers[name] {
                if existing.config != config {
                    if let refusal = Self.refusedUpdate(from: existing.config, to: config) {
                        return error("consumer_create_response", APIError(code: 500, errCode: 10012, description: refusal))
                    }
                    existing.update(config: config, filterCoversStream: Self.covers(config.filterSubject, stream))
                }
                return encode("consumer_create_response", consumerInfo(existing, stream: stream))
            }
            if stream.config.maxConsumers > 0 && stream.consumers.all.count >= stream.config.maxConsumers {
                return error("consumer_create_response", APIError(code: 400, errCode: 10026, description: "maximum consumers limit reached"))
            }
            let store = stream.store
            let state = store.state
            let start = ConsumerEngine.startSequence(
                for: config, firstSequence: state.firstSequence, lastSequence: state.lastSequence,
                lastMatching: { (try? store.last(subject: config.filterSubject ?? ">"))?.sequence },
                firstAtOrAfterTime: { try? store.firstSequence(atOrAfterTime: $0) })
            var initial: [UInt64] = []
            var first = start
            if config.deliverPolicy == .lastPerSubject {
                let subjects = (try? store.subjectCounts(filter: config.filterSubject)) ?? [:]
                initial = subjects.keys.compactMap { (try? store.last(subject: $0))?.sequence }.sorted()
                first = state.lastSequence + 1
            }
            let engine = ConsumerEngine(stream: stream.config.name, name: name, config: config, startSequence: first, initialSequences: initial)
            let host = ConsumerHost(engine: engine, created: FileStream.systemClock(), store: store, send: send, hasInterest: hasInterest,
                                    filterCoversStream: Self.covers(config.filterSubject, stream))
            attach(host, to: stream)
            stream.consumers[name] = host
            host.persist()
            host.tick()
            advise("CREATED", action: "create", stream: stream.config.name, consumer: name)
            return encode("consumer_create_response", consumerInfo(host, stream: stream))
        case "INFO", "DELETE":
            let type = op == "INFO" ? "consumer_info_response" : "consumer_delete_response"
            guard tokens.count == 4, let stream = streams.stream(named: tokens[2]) else { return error(type, .streamNotFound) }
            guard let host = stream.consumers[tokens[3]] else { return error(type, .consumerNotFound) }
            if op == "INFO" { return encode(type, consumerInfo(host, stream: stream)) }
            remove(host, from: stream)
            return encode(type, ["success": true])
        case "NAMES", "LIST":
            guard tokens.count == 3, let stream = streams.stream(named: tokens[2]) else {
                return error(op == "NAMES" ? "consumer_names_response" : "consumer_list_response", .streamNotFound)
            }
            // Paged by `offset`, in name order, as the reference.
            struct Page: Decodable { var offset: Int? }
            let hosts = stream.consumers.all
            let limit = op == "NAMES" ? 1024 : 256
            let offset = min(max(((try? JSONDecoder().decode(Page.self, from: body)) ?? Page()).offset ?? 0, 0), hosts.count)
            let shown = hosts[offset..<min(offset + limit, hosts.count)]
            if op == "NAMES" {
                return encode("consumer_names_response", ["total": hosts.count, "offset": offset, "limit": limit, "consumers": shown.map(\.name)])
            }
            return encode("consumer_list_response", ["total": hosts.count, "offset": offset, "limit": limit,
                                                     "consumers": shown.map { consumerInfo($0, stream: stream) }])
        case "MSG":
            pullRequest(tokens, body: body, reply: reply)
            return nil
        default:
            return error("api", .unsupported)
        }
    }

    /// `CONSUMER.MSG.NEXT.<stream>.<consumer>` (tokens from `CONSUMER`): a pull request; deliveries and
    /// statuses go to the reply subject, there is no JSON answer. The server calls it on the requester's
    /// loop (it is on the hot path of pull consumers).
    func pullRequest(_ tokens: [String], body: Data, reply: String?) {
        guard tokens.count == 5, tokens[2] == "NEXT", let reply, let stream = streams.stream(named: tokens[3]),
              let host = stream.consumers[tokens[4]] else { return }
        struct Next: Decodable {
            var batch: Int?; var expires: Int64?; var maxBytes: Int?; var noWait: Bool?; var idleHeartbeat: Int64?
            enum CodingKeys: String, CodingKey { case batch, expires, maxBytes = "max_bytes", noWait = "no_wait", idleHeartbeat = "idle_heartbeat" }
        }
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        let next: Next = text.isEmpty ? Next() : Int(text).map { Next(batch: $0) } ?? ((try? JSONDecoder().decode(Next.self, from: body)) ?? Next())
        host.pull(PullRequest(id: nextRequestID(), replyTo: reply, batch: next.batch ?? 1,
                              expires: (next.expires ?? 0) > 0 ? next.expires : nil, maxBytes: next.maxBytes, noWait: next.noWait ?? false,
                              idleHeartbeat: next.idleHeartbeat))
    }

    /// An ack on `$JS.ACK.<stream>.<consumer>.<deliveries>.<stream_seq>.<consumer_seq>.<ts>.<pending>`, applied
    /// on the caller's thread. `confirm` runs when an ack reply (AckSync) is due: at once, or once the
    /// stream's retention has removed what the ack released. With `deferDelivery`, the deliveries the ack
    /// allows are left for the caller to start (a tick of the host it is given, after a run of acks).
    func acknowledge(subject: String, body: ByteBuffer, confirm: (@Sendable () -> Void)?,
                     deferDelivery: ((ConsumerHost) -> Void)? = nil) {
        guard let (streamName, consumerName, sequence) = Self.parseAckSubject(subject),
              let stream = streams.stream(named: streamName), let host = stream.consumers[consumerName] else { return }
        let kind: AckKind
        if body.readableBytes == 0 || body.readableBytesView.elementsEqual("+ACK".utf8) {
            kind = .ack
        } else {
            guard let parsed = AckKind.parse(String(buffer: body)) else { return }
            kind = parsed
        }
        let released = host.acknowledge(sequence, kind, durable: confirm != nil, deliver: deferDelivery == nil)
        deferDelivery?(host)
        if released.isEmpty || stream.config.retention == .limits {
            confirm?()
            return
        }
        Task {
            await host.onAcknowledged(released)
            confirm?()
        }
    }

    /// (stream, consumer, stream sequence) of `$JS.ACK.<stream>.<consumer>.<n>.<stream_seq>.<consumer_seq>.<ts>.<pending>`.
    static func parseAckSubject(_ subject: String) -> (String, String, UInt64)? {
        var tokens: [Substring] = []
        tokens.reserveCapacity(9)
        var start = subject.utf8.startIndex
        var index = start
        let utf8 = subject.utf8
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: ".") {
                tokens.append(Substring(utf8[start..<index]))
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        tokens.append(Substring(utf8[start..<utf8.endIndex]))
        guard tokens.count >= 9, let sequence = UInt64(tokens[5]) else { return nil }
        return (String(tokens[2]), String(tokens[3]), sequence)
    }

    /// What a consumer update may not change, as the reference words it (nil: the update is allowed).
    /// Allowed: description, ack_wait, max_deliver, backoff, max_ack_pending, filter_subject, headers_only,
    /// inactive_threshold, idle_heartbeat, and the deliver subject of a push consumer.
    static func refusedUpdate(from old: ConsumerConfig, to new: ConsumerConfig) -> String? {
        if old.deliverPolicy != new.deliverPolicy { return "deliver policy can not be updated" }
        if old.optStartSeq != new.optStartSeq { return "start sequence can not be updated" }
        if old.optStartTime != new.optStartTime { return "start time can not be updated" }
        if old.ackPolicy != new.ackPolicy { return "ack policy can not be updated" }
        if old.replayPolicy != new.replayPolicy { return "replay policy can not be updated" }
        if old.maxWaiting != new.maxWaiting { return "max waiting can not be updated" }
        if (old.deliverSubject == nil) != (new.deliverSubject == nil) {
            return old.deliverSubject == nil ? "can not update pull consumer to push based" : "can not update push consumer to pull based"
        }
        if old.deliverGroup != new.deliverGroup { return "deliver group can not be updated" }
        if old.flowControl != new.flowControl { return "flow control can not be updated" }
        return nil
    }

    /// A random 8-character name for an ephemeral consumer, as the reference makes them.
    static func ephemeralName() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<8).map { _ in alphabet.randomElement()! })
    }

    /// Publishes `$JS.EVENT.ADVISORY.CONSUMER.<event>.<stream>.<consumer>` (a `consumer_action` advisory).
    func advise(_ event: String, action: String, stream: String, consumer: String) {
        let advisory = #"{"type":"io.nats.jetstream.advisory.v1.consumer_action","id":"\#(Self.ephemeralName())\#(Self.ephemeralName())","timestamp":"\#(Self.time(FileStream.systemClock()))","stream":"\#(stream)","consumer":"\#(consumer)","action":"\#(action)"}"#
        send([OutboundMessage(to: "$JS.EVENT.ADVISORY.CONSUMER.\(event).\(stream).\(consumer)", payload: ByteBuffer(string: advisory))])
    }

    /// Removes a consumer (API delete, or inactive past its threshold), with the reference's advisory.
    func remove(_ host: ConsumerHost, from stream: StreamManager.Managed) {
        if stream.consumers[host.name] === host { stream.consumers[host.name] = nil }
        if host.delete() { advise("DELETED", action: "delete", stream: stream.config.name, consumer: host.name) }
    }

    /// Wires a new or restored consumer to its stream: retention, removal when inactive, its timer.
    func attach(_ host: ConsumerHost, to stream: StreamManager.Managed) {
        host.onInactive = { [weak self, weak stream] host in
            guard let self, let stream else { return }
            self.remove(host, from: stream)
        }
        attachRetention(host, stream: stream)
        host.startHousekeeping()
    }

    /// A client's answer to a flow-control request (`$JS.FC.<stream>.<consumer>.<n>`).
    func flowControlAnswered(_ subject: String) {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard tokens.count >= 5, let stream = streams.stream(named: String(tokens[2])), let host = stream.consumers[String(tokens[3])] else { return }
        host.flowControlAnswered(subject)
    }

    /// Work queue: a message goes when acknowledged. Interest: when every consumer whose filter matches it
    /// is done with it.
    func attachRetention(_ host: ConsumerHost, stream: StreamManager.Managed) {
        guard stream.config.retention != .limits else { return }
        let retention = stream.config.retention
        host.onAcknowledged = { [weak stream] sequences in
            guard let stream else { return }
            for sequence in sequences {
                if retention == .interest {
                    guard let message = try? stream.store.message(sequence: sequence) else { continue }
                    let done = stream.consumers.all.allSatisfy {
                        $0.engineSnapshot.isDone(with: sequence, subject: message.subject, matches: Subject.matches)
                    }
                    if !done { continue }
                }
                _ = try? await stream.store.delete(sequence: sequence)
            }
        }
    }

    /// False only for an interest stream where no consumer's filter matches `subject` (the message is then
    /// not kept).
    func hasInterest(in stream: StreamManager.Managed, subject: String) -> Bool {
        guard stream.config.retention == .interest else { return true }
        return stream.consumers.all.contains { host in
            host.config.filterSubject.map { Subject.matches(subject, filter: $0) } ?? true
        }
    }

    /// Whether `filter` matches every subject the stream can hold.
    static func covers(_ filter: String?, _ stream: StreamManager.Managed) -> Bool {
        guard let filter else { return true }
        return stream.config.subjects.allSatisfy { $0 == filter || Subject.isSubset($0, of: filter) }
    }

    /// Lets a stream's consumers deliver what was just appended.
    func notifyConsumers(of stream: StreamManager.Managed) {
        for host in stream.consumers.all { host.tick() }
    }

    func consumerInfo(_ host: ConsumerHost, stream: StreamManager.Managed) -> [String: Any] {
        let (engine, pending, lastDelivered, lastAcknowledged) = host.snapshot()
        let config = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(engine.config))) ?? [:]
        var delivered: [String: Any] = ["consumer_seq": engine.state.delivered.consumerSeq, "stream_seq": engine.state.delivered.streamSeq]
        var floor: [String: Any] = ["consumer_seq": engine.state.ackFloor.consumerSeq, "stream_seq": engine.state.ackFloor.streamSeq]
        if lastDelivered > 0 { delivered["last_active"] = Self.time(lastDelivered) }
        if lastAcknowledged > 0 { floor["last_active"] = Self.time(lastAcknowledged) }
        return [
            "stream_name": stream.config.name, "name": host.name, "created": Self.time(host.created), "config": config,
            "delivered": delivered, "ack_floor": floor,
            "num_ack_pending": engine.numAckPending, "num_redelivered": engine.numRedelivered,
            "num_waiting": engine.numWaiting, "num_pending": pending,
        ]
    }
}
