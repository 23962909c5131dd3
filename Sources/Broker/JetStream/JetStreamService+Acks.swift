import Consumers
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import NATSProtocol
import NIOCore
import StreamStore
import Subjects

/// The hot path of consumption, served on the connection's own loop: pull requests, acknowledgements and
/// flow-control answers.
extension JetStreamService {
    /// `CONSUMER.MSG.NEXT.<stream>.<consumer>` (tokens from `CONSUMER`): a pull request; deliveries and
    /// statuses go to the reply subject, there is no JSON answer. The server calls it on the requester's
    /// loop (it is on the hot path of pull consumers).
    /// A request for a consumer that does not exist is dropped: the reference's API dispatcher takes every
    /// `$JS.API.>` subject, so such a request waits out its timeout there too (no no-responders status).
    func pullRequest(_ tokens: [String], body: Data, reply: String?) {
        guard tokens.count == 5, tokens[2] == "NEXT", let reply, let stream = streams.stream(named: tokens[3]),
              let host = stream.consumers[tokens[4]] else { return }
        struct Next: Decodable {
            var batch: Int?; var expires: Int64?; var maxBytes: Int?; var noWait: Bool?; var idleHeartbeat: Int64?
            enum CodingKeys: String, CodingKey { case batch, expires, maxBytes = "max_bytes", noWait = "no_wait", idleHeartbeat = "idle_heartbeat" }
        }
        let text = String(decoding: body, as: UTF8.self).trimmingWhitespace()
        // (try?: a pull body that does not decode is served as the default request, as the reference does)
        let next: Next = text.isEmpty ? Next() : Int(text).map { Next(batch: $0) } ?? ((try? JSONDecoder().decode(Next.self, from: body)) ?? Next())
        let config = host.config
        let refusal = config.deliverSubject != nil ? "Consumer is push based"
            : ConsumerConfigCheck.pullRefusal(batch: next.batch ?? 1, expires: next.expires, maxBytes: next.maxBytes, config: config)
        if let refusal {
            send([OutboundMessage.status(to: reply, code: 409, description: refusal)])
            return
        }
        host.pull(PullRequest(id: nextRequestID(), replyTo: reply, batch: next.batch ?? 1,
                              expires: (next.expires ?? 0) > 0 ? next.expires : nil, maxBytes: next.maxBytes, noWait: next.noWait ?? false,
                              idleHeartbeat: next.idleHeartbeat))
    }

    /// An ack on `$JS.ACK.<stream>.<consumer>.<deliveries>.<stream_seq>.<consumer_seq>.<ts>.<pending>`, applied
    /// on the caller's thread. `confirm` runs when an ack reply (AckSync) is due: at once, or once the
    /// stream's retention has removed what the ack released. With `deferDelivery`, the deliveries the ack
    /// allows are left for the caller to start (a tick of the host it is given, after a run of acks).
    /// `cache` (the connection's) remembers the consumer of the previous ack, so that a run of acks for one
    /// consumer finds it without the two registry lookups.
    /// `deferAck`: a plain `+ACK` (no AckSync) is handed to it instead, to be applied with the read's other
    /// acks (and, on interest and work-queue streams, removed with them in one write).
    /// Returns whether the ack reached a consumer (each of the reference's consumers subscribes its own ack
    /// subjects: an ack for one that is gone reaches nobody).
    @discardableResult
    func acknowledge(subject: String, body: ByteBuffer, confirm: (@Sendable () -> Void)?,
                     deferDelivery: ((ConsumerHost) -> Void)? = nil, deferAck: ((ConsumerHost, UInt64) -> Void)? = nil,
                     cache: inout AckTargetCache) -> Bool {
        guard let (streamName, consumerName, sequence) = Self.parseAckSubject(subject) else { return false }
        let stream: StreamManager.Managed, host: ConsumerHost
        // A deleted stream deletes its consumers, so a live cached consumer is still the one by that name.
        if let cached = cache.target, consumerName == cached.host.name, streamName == cached.stream.config.name,
           !cached.host.isDeleted {
            (stream, host) = (cached.stream, cached.host)
        } else {
            guard let found = streams.stream(named: String(streamName)), let consumer = found.consumers[String(consumerName)] else { return false }
            (stream, host) = (found, consumer)
            cache.target = (stream, host)
        }
        let kind: AckKind
        if body.readableBytes == 0 || body.readableBytesView.elementsEqual("+ACK".utf8) {
            kind = .ack
        } else {
            guard let parsed = AckKind.parse(String(buffer: body)) else { return true }
            kind = parsed
        }
        if let deferAck, kind == .ack, confirm == nil {
            deferAck(host, sequence)
            return true
        }
        let released = host.acknowledge(sequence, kind, deliver: deferDelivery == nil)
        deferDelivery?(host)
        let retained = !released.isEmpty && stream.config.retention != .limits
        guard let confirm else {
            if retained { host.onAcknowledged(released) {} }
            return true
        }
        // An AckSync is answered once its state is stored and synced, and what it released is removed. When the
        // store refuses the state (a full or read-only file system) it is not answered: the client's AckSync
        // times out (an empty reply is all the protocol has, and it means stored), and the message is redelivered.
        let barrier = CompletionBarrier(count: retained ? 2 : 1, then: confirm)
        host.flush(durable: true) { stored in if stored { barrier.arrive() } }
        if retained { host.onAcknowledged(released) { barrier.arrive() } }
        return true
    }

    /// The consumer a connection acknowledged last (see ``acknowledge(subject:body:confirm:deferDelivery:cache:)``).
    struct AckTargetCache {
        var target: (stream: StreamManager.Managed, host: ConsumerHost)?
    }

    /// (stream, consumer, stream sequence) of `$JS.ACK.<stream>.<consumer>.<n>.<stream_seq>.<consumer_seq>.<ts>.<pending>`.
    static func parseAckSubject(_ subject: String) -> (Substring, Substring, UInt64)? {
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
        return (tokens[2], tokens[3], sequence)
    }

    /// A client's answer to a flow-control request (`$JS.FC.<stream>.<consumer>.<n>`).
    func flowControlAnswered(_ subject: String) {
        let tokens = subject.subjectTokens()
        guard tokens.count >= 5, let stream = streams.stream(named: String(tokens[2])), let host = stream.consumers[String(tokens[3])] else { return }
        host.flowControlAnswered(subject)
    }
}
