import Consumers
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import DynamicJSON
import NATSProtocol
import NIOCore
import StreamStore
import Subjects

/// The consumer API: `CONSUMER.CREATE|DURABLE.CREATE|INFO|DELETE|NAMES|LIST`, consumer info, and the restore
/// of stored consumers on start. Pull requests and acks: JetStreamService+Acks.swift.
extension JetStreamService {
    /// Restores the consumers stored with a stream (at start once delivery is possible, or at the first use of
    /// a stream deferred at start).
    func restoreConsumers(of stream: StreamManager.Managed) {
        do {
            let records: [ConsumerRecord]
            do {
                records = try stream.store.consumers()
            } catch {
                logger.error("stream \(stream.config.name): its consumer records could not be read, none restored: \(error)")
                return
            }
            for record in records {
                // A record that does not decode is left in the store (never deleted on a guess) and named.
                guard let config = try? JSONDecoder().decode(ConsumerConfig.self, from: record.config),
                      let saved = StoredConsumerState(decoding: Array(record.state)) else {
                    logger.error("stream \(stream.config.name): consumer \(record.name) has a record that does not decode; not restored (kept in the store until the consumer is deleted or created again)")
                    stream.consumers.markUnrestored(record.name)
                    continue
                }
                let engine = ConsumerEngine(stream: stream.config.name, name: record.name, config: config, startSequence: 1, state: saved.state)
                let host = ConsumerHost(engine: engine, created: saved.created, store: stream.store, send: send, hasInterest: hasInterest,
                                        filterCoversStream: Self.covers(config.filterSubject, stream), logger: logger)
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
            // DURABLE.CREATE.<stream>.<name> exactly; the reference does not answer other shapes.
            if durable && args.count != 2 { return nil }
            guard let streamName = args.first, let stream = streams.stream(named: streamName) else {
                return error("consumer_create_response", .streamNotFound)
            }
            struct Request: Decodable {
                var streamName: String?
                var config: ConsumerConfig?
                enum CodingKeys: String, CodingKey { case streamName = "stream_name", config }
            }
            // (try?: client input: a body that does not decode is answered with the reference's invalid JSON error)
            guard let request = try? JSONDecoder().decode(Request.self, from: body) else {
                return error("consumer_create_response", .invalidJSON)
            }
            if let named = request.streamName, named != streamName { return error("consumer_create_response", .streamMismatch) }
            var config = request.config ?? ConsumerConfig()
            if let refusal = Self.refusedCreate(&config, args: args, durable: durable, stream: stream) {
                return error("consumer_create_response", refusal)
            }
            let name = config.durableName ?? config.name ?? Self.ephemeralName()
            // Ephemeral consumers go after 5 s without activity unless told otherwise (as the reference).
            if config.durableName == nil && config.inactiveThreshold == 0 { config.inactiveThreshold = 5_000_000_000 }
            if stream.config.retention == .workqueue && stream.consumers[name] == nil {
                // The reference's order: explicit acks, then one partition per consumer, then deliver all.
                if config.ackPolicy != .explicit {
                    return error("consumer_create_response", APIError(code: 400, errCode: 10098, description: "workqueue stream requires explicit ack"))
                }
                let others = stream.consumers.all
                if !others.isEmpty && config.filterSubject == nil {
                    return error("consumer_create_response", APIError(code: 400, errCode: 10099, description: "multiple non-filtered consumers not allowed on workqueue stream"))
                }
                for other in others where Subject.overlaps(config.filterSubject ?? ">", other.config.filterSubject ?? ">") {
                    return error("consumer_create_response", APIError(code: 400, errCode: 10100, description: "filtered consumer not unique on workqueue stream"))
                }
                if config.deliverPolicy != .all {
                    return error("consumer_create_response", APIError(code: 400, errCode: 10101, description: "consumer must be deliver all on workqueue stream"))
                }
            }
            if config.name == nil && config.durableName == nil { config.name = name }  // (a durable's stays unset, as the reference's)
            if let existing = stream.consumers[name] {
                if existing.config != config {
                    if let refusal = Self.refusedUpdate(from: existing.config, to: config) {
                        return error("consumer_create_response", APIError(code: 500, errCode: 10012, description: refusal))
                    }
                    existing.update(config: config, filterCoversStream: Self.covers(config.filterSubject, stream))
                }
                return encode("consumer_create_response", consumerInfo(existing, stream: stream))
            }
            if accountLimits.maxConsumers >= 0 && streams.all.reduce(0, { $0 + $1.consumers.all.count }) >= accountLimits.maxConsumers {
                return error("consumer_create_response", APIError(code: 400, errCode: 10026, description: "maximum consumers limit reached"))
            }
            if stream.config.maxConsumers > 0 && stream.consumers.all.count >= stream.config.maxConsumers {
                return error("consumer_create_response", APIError(code: 400, errCode: 10026, description: "maximum consumers limit reached"))
            }
            let store = stream.store
            let state = store.state
            let start = ConsumerEngine.startSequence(
                for: config, firstSequence: state.firstSequence, lastSequence: state.lastSequence,
                // (try?: start-position reads: a failed read starts the consumer at the stream's end (the lookups' nil))
                lastMatching: { (try? store.last(subject: config.filterSubject ?? ">"))?.sequence },
                firstAtOrAfterTime: { try? store.firstSequence(atOrAfterTime: $0) })
            var initial: [UInt64] = []
            var first = start
            if config.deliverPolicy == .lastPerSubject {
                // (try?: as above: a failed read means no initial last-per-subject messages)
                let subjects = (try? store.subjectCounts(filter: config.filterSubject)) ?? [:]
                initial = subjects.keys.compactMap { (try? store.last(subject: $0))?.sequence }.sorted()
                first = state.lastSequence + 1
            }
            let engine = ConsumerEngine(stream: stream.config.name, name: name, config: config, startSequence: first, initialSequences: initial)
            let host = ConsumerHost(engine: engine, created: FileStream.systemClock(), store: store, send: send, hasInterest: hasInterest,
                                    filterCoversStream: Self.covers(config.filterSubject, stream), logger: logger)
            attach(host, to: stream)
            stream.consumers[name] = host
            stream.consumers.clearUnrestored(name)  // (its undecodable record is replaced)
            host.persist()
            // The response shows the consumer as created, before its first delivery (a mirror reads its
            // start from `delivered`).
            let info = consumerInfo(host, stream: stream)
            host.tick()
            advise("CREATED", action: "create", stream: stream.config.name, consumer: name)
            return encode("consumer_create_response", info)
        case "INFO", "DELETE":
            let type = op == "INFO" ? "consumer_info_response" : "consumer_delete_response"
            guard tokens.count == 4, let stream = streams.stream(named: tokens[2]) else { return error(type, .streamNotFound) }
            guard let host = stream.consumers[tokens[3]] else {
                // A consumer whose record did not decode at start: deleting it removes the record.
                if op == "DELETE", stream.consumers.unrestoredNames.contains(tokens[3]) {
                    let store = stream.store, name = tokens[3]
                    let removed = await withCheckedContinuation { continuation in
                        store.deleteConsumer(named: name) { continuation.resume(returning: $0) }
                    }
                    switch removed {
                    case .success:
                        stream.consumers.clearUnrestored(name)
                        return encode(type, ["success": true])
                    case .failure(let failure):
                        logger.error("stream \(stream.config.name): the record of consumer \(name) not removed: \(failure)")
                        return error(type, .storeFailed)
                    }
                }
                return error(type, .consumerNotFound)
            }
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
            // (try?: client input: a paging body that does not decode is the first page, as the reference)
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

    func consumerInfo(_ host: ConsumerHost, stream: StreamManager.Managed) -> [String: Any] {
        Self.consumerInfo(host.figures(), stream: stream.config.name, withConfig: true)
    }

    /// Consumer info's JSON (also `/jsz`'s `consumer_detail`, where the config is shown on request).
    static func consumerInfo(_ figures: ConsumerHost.Figures, stream: String, withConfig: Bool) -> [String: Any] {
        var delivered: [String: Any] = ["consumer_seq": figures.delivered.consumer, "stream_seq": figures.delivered.stream]
        var floor: [String: Any] = ["consumer_seq": figures.ackFloor.consumer, "stream_seq": figures.ackFloor.stream]
        if figures.delivered.last > 0 { delivered["last_active"] = Self.time(figures.delivered.last) }
        if figures.ackFloor.last > 0 { floor["last_active"] = Self.time(figures.ackFloor.last) }
        var info: [String: Any] = [
            "stream_name": stream, "name": figures.name, "created": Self.time(figures.created),
            "delivered": delivered, "ack_floor": floor,
            "num_ack_pending": figures.numAckPending, "num_redelivered": figures.numRedelivered,
            "num_waiting": figures.numWaiting, "num_pending": figures.numPending,
        ]
        if withConfig { info["config"] = configJSON(figures.config) }
        return info
    }

    /// A consumer's config as consumer info shows it: what is zero, false or empty left out (the
    /// reference's fields are `omitempty`), but the policies and replicas.
    static func configJSON(_ consumerConfig: ConsumerConfig) -> [String: Any] {
        // (try?: encoding a plain Codable config cannot fail)
        var config = ((try? JSONEncoder().encode(consumerConfig)).flatMap { JSONReader.object($0) }) ?? [:]
        if let start = consumerConfig.optStartTime { config["opt_start_time"] = Self.time(start) }  // (RFC 3339, as given)
        let always: Set<String> = ["deliver_policy", "ack_policy", "replay_policy", "num_replicas"]
        return config.filter { key, value in
            if always.contains(key) { return true }
            switch value {
            case let flag as Bool: return flag
            case let number as Int: return number != 0
            case let number as Double: return number != 0
            case let array as [Any]: return !array.isEmpty
            case let text as String: return !text.isEmpty
            default: return true
            }
        }
    }
}
