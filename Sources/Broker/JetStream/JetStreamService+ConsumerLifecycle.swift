import Consumers
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import NATSProtocol
import NIOCore
import StreamStore
import Subjects

/// Consumers' lifecycle: what an update may change, names of ephemerals, advisories, removal (by the API
/// or for inactivity), and the stream's retention over its consumers.
extension JetStreamService {
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

    /// Settles a create request's config from the subject's tokens (`args`: stream, then name, then filter)
    /// and checks it as the reference does; the error to answer, or nil.
    static func refusedCreate(_ config: inout ConsumerConfig, args: [String], durable: Bool, stream: StreamManager.Managed) -> APIError? {
        if durable {
            if let given = config.durableName, given != args[1] {
                return APIError(code: 400, errCode: 10017, description: "consumer name in subject does not match durable name in request")
            }
            config.durableName = args[1]
        } else if args.count >= 2 {
            config.name = args[1]  // the subject's name wins over the body's, as the reference
        } else if config.durableName != nil {
            return APIError(code: 400, errCode: 10020, description: "consumer expected to be ephemeral but a durable name was set in request")
        }
        if [config.durableName, config.name].contains(where: { $0.map { $0.isEmpty || $0.contains(where: { ".*>".contains($0) }) } ?? false }) {
            return APIError(code: 400, errCode: 10103, description: "durable name can not contain '.', '*', '>'")
        }
        if args.count >= 3 {
            let filter = args[2...].joined(separator: ".")
            if let given = config.filterSubject, given != filter {
                return APIError(code: 400, errCode: 10131, description: "Consumer create request did not match filtered subject from create subject")
            }
            config.filterSubject = filter
        }
        if config.filterSubject == ">" || config.filterSubject == "" { config.filterSubject = nil }
        return ConsumerConfigCheck.refusal(config, stream: stream.config)
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
        if host.delete() {
            advise("DELETED", action: "delete", stream: stream.config.name, consumer: host.name)
            if stream.config.retention == .interest { releaseUnneeded(in: stream) }
        }
    }

    /// Interest retention after a consumer went: removes the messages no remaining consumer still needs
    /// (those only the deleted one was holding), as the reference does. Walks the held messages a page at a
    /// time (O(messages), once per delete); the removal is one write.
    func releaseUnneeded(in stream: StreamManager.Managed) {
        let consumers = stream.consumers.all.map(\.engineSnapshot)
        var removable: [UInt64] = []
        var next = stream.store.state.firstSequence
        while true {
            let page: [StoredMessage]
            do { page = try stream.store.messages(from: next, filter: nil, limit: 1024) } catch {
                // What was not looked at stays (never dropped on a guess); the next consumer delete looks again.
                logger.warning("stream \(stream.config.name): messages after \(next) not checked for release after a consumer delete: \(error)")
                break
            }
            guard let last = page.last else { break }
            for message in page where consumers.allSatisfy({ $0.isDone(with: message.sequence, subject: message.subject, matches: Subject.matches) }) {
                removable.append(message.sequence)
            }
            next = last.sequence + 1
        }
        guard !removable.isEmpty else { return }
        let logger = self.logger
        stream.store.remove(removable) { result in
            if case .failure(let error) = result {
                logger.error("stream \(stream.config.name): messages released by a consumer delete not removed: \(error)")
            }
        }
    }

    /// Wires a new or restored consumer to its stream: retention, removal when inactive, its timer.
    func attach(_ host: ConsumerHost, to stream: StreamManager.Managed) {
        host.onInactive = { [weak self, weak stream] host in
            guard let self, let stream else { return }
            self.remove(host, from: stream)
        }
        host.deliveryBacklog = { [weak self] subject in self?.deliveryBacklog(subject) ?? 0 }
        attachRetention(host, stream: stream)
        host.startHousekeeping()
    }

    /// Work queue: a message goes when acknowledged. Interest: when every consumer whose filter matches it
    /// is done with it. The sequences one ack step released go to the store as one removal, applied with
    /// every other removal queued meanwhile in one write; `done` runs (on the writer thread) once they are
    /// gone, or at once when none is due.
    func attachRetention(_ host: ConsumerHost, stream: StreamManager.Managed) {
        guard stream.config.retention != .limits else { return }
        let retention = stream.config.retention
        let logger = self.logger
        host.onAcknowledged = { [weak stream] sequences, done in
            guard let stream else { done(); return }
            var removable = sequences
            if retention == .interest {
                let consumers = stream.consumers.all.map(\.engineSnapshot)
                removable = sequences.filter { sequence in
                    // A message that cannot be read is not removed now: it is looked at again on the next
                    // ack or restart, never dropped on a guess.
                    guard let message = (try? stream.store.message(sequence: sequence)) ?? nil else { return false }
                    return consumers.allSatisfy { $0.isDone(with: sequence, subject: message.subject, matches: Subject.matches) }
                }
            }
            guard !removable.isEmpty else { done(); return }
            stream.store.remove(removable) { result in
                if case .failure(let error) = result {
                    logger.error("stream \(stream.config.name): acknowledged messages not removed: \(error)")
                }
                done()
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

    /// Queues every consumer's unsaved state for its store (at shutdown, before the stores close).
    func flushConsumers() {
        for stream in streams.allUnrestored { for host in stream.consumers.all { host.flush() } }
    }

    /// Lets a stream's consumers deliver what was just appended.
    func notifyConsumers(of stream: StreamManager.Managed) {
        for host in stream.consumers.all { host.tick() }
    }
}
