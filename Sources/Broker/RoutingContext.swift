#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NATSProtocol
import NIOCore
import Platform

/// A connection that publishes into an account: a client, or a leaf connection forwarding what the other
/// side published. Routing reads its account and keeps its per-connection state in ``routing``.
protocol Publisher: AnyObject {
    /// The account its messages are published in.
    var account: Account { get }
    /// Whether its own subscriptions receive what it publishes (a client's `echo`; never for a leaf).
    var echo: Bool { get }
    /// The event loop it reads on (nil once closed).
    var eventLoop: EventLoop? { get }
    var routing: RoutingContext { get }
}

/// What routing keeps for one publishing connection, touched on that connection's event loop only: the
/// caches that let a run of publishes skip lookups, and what one socket read gathers for its end, when it is
/// handed on in one piece (stream messages to their stores, acks to their consumers, messages for
/// connections on other loops in one hop each). The connection calls ``finishRead(on:account:logger:stored:)``
/// after each read.
final class RoutingContext {
    /// The consumer this connection acknowledged last.
    var ackTarget = JetStreamService.AckTargetCache()
    /// The subscriptions the last published subject reached (none, for a run of stream publishes nothing
    /// subscribes to), valid while the router's version is the same.
    var lastRoute: (subject: String, version: UInt64, matches: Router.Matches)?
    /// The stream the last published subject was captured by, valid while the stream manager's version is
    /// the same. (No stream is not kept: a stream that could not be opened for a moment answers none too.)
    private var lastCapture: (subject: String, version: UInt64, stream: StreamManager.Managed)?
    /// Whether this publisher pauses for subscribers that fall behind (a client; nats-server stalls clients
    /// only, not leaf connections).
    var stallsOnSlowSubscribers = false
    /// Subscribers this read delivered to while they stalled (see ``ProducerStall``).
    private var stalledOn: [ClientConnection] = []
    /// Picks queue-group members for messages this connection publishes.
    var random: SplitMix64
    /// Backpressure: stream publishes not yet stored; reading stops while too many bytes wait.
    var publishWindow: PublishWindow
    /// Messages for clients on other event loops, encoded during one read and handed over once per target.
    private var remoteDeliveries: [ObjectIdentifier: (client: ClientConnection, buffer: ByteBuffer, count: MessageCount)] = [:]
    /// Consumers acknowledged during this read, with the plain acks left for the end of the read.
    private var acknowledged: [(host: ConsumerHost, sequences: [UInt64])] = []
    /// This read's messages for streams of the connection's own account, stored at its end.
    private var captured: [(publish: Publish, stream: StreamManager.Managed)] = []
    /// Messages an import carried into another account's stream.
    private var capturedElsewhere: [(publish: Publish, stream: StreamManager.Managed, service: JetStreamService)] = []

    init(seed: UInt64, publishWindow: PublishWindow) {
        self.random = SplitMix64(seed: seed)
        self.publishWindow = publishWindow
    }

    /// A consumer this read acknowledged messages of: it delivers what the acks allow once, at the end of
    /// the read, rather than after each ack.
    func deliverAfterRead(_ host: ConsumerHost) {
        if !acknowledged.contains(where: { $0.host === host }) { acknowledged.append((host, [])) }
    }

    /// A plain ack left for the end of this read, applied with the read's other acks of that consumer.
    func acknowledgeAfterRead(_ host: ConsumerHost, _ sequence: UInt64) {
        if let index = acknowledged.lastIndex(where: { $0.host === host }) {
            acknowledged[index].sequences.append(sequence)
        } else {
            acknowledged.append((host, [sequence]))
        }
    }

    /// The stream that captures `subject` in the connection's own account's `streams`: a run of publishes
    /// to one subject looks it up once.
    func stream(capturing subject: String, in streams: StreamManager) -> StreamManager.Managed? {
        let version = streams.version
        if let last = lastCapture, last.version == version, last.subject == subject { return last.stream }
        guard let stream = streams.stream(capturing: subject) else { return nil }
        lastCapture = (subject, version, stream)
        return stream
    }

    /// Notes that `subscriber`, delivered to in this read, stalls.
    func stall(on subscriber: ClientConnection) {
        if !stalledOn.contains(where: { $0 === subscriber }) { stalledOn.append(subscriber) }
    }

    var hasStalls: Bool { !stalledOn.isEmpty }

    func takeStalls() -> [ClientConnection] {
        defer { stalledOn.removeAll() }
        return stalledOn
    }

    /// Keeps a message published to a stream's subject until the end of this read. `home` is the
    /// publishing connection's own account's JetStream.
    func capture(_ publish: Publish, for stream: StreamManager.Managed, in service: JetStreamService, home: JetStreamService?) {
        if service === home { captured.append((publish, stream)) } else { capturedElsewhere.append((publish, stream, service)) }
    }

    /// Encodes a message for a client on another event loop, sent with the rest of this read's for it.
    func encodeRemote(_ publish: Publish, to subscription: Subscription, client target: ClientConnection) {
        let key = ObjectIdentifier(target)
        if remoteDeliveries[key] == nil {
            remoteDeliveries[key] = (target, ByteBufferAllocator().buffer(capacity: 16 << 10), MessageCount())
        }
        let headers = subscription.receivesHeaders ? publish.headers : nil
        ServerEncoder.message(subject: publish.subject, sid: subscription.sid, reply: publish.reply,
                              headers: headers, payload: publish.payload, into: &remoteDeliveries[key]!.buffer)
        remoteDeliveries[key]!.count.add(bytes: publish.payload.readableBytes &+ (headers?.readableBytes ?? 0))
        // A large read goes over in pieces (see ClientConnection.flushBytes).
        if remoteDeliveries[key]!.buffer.readableBytes >= ClientConnection.flushBytes, let piece = remoteDeliveries.removeValue(forKey: key) {
            hand(piece)
        }
    }

    private func hand(_ piece: (client: ClientConnection, buffer: ByteBuffer, count: MessageCount)) {
        piece.client.channel?.eventLoop.execute { piece.client.appendEncoded(CollectionOfOne(piece.buffer), count: piece.count) }
    }

    /// Whether this read left anything for its end (nearly always false for a read of core messages to
    /// subscribers on the same loop: then the end of the read costs one check).
    var hasReadWork: Bool { !remoteDeliveries.isEmpty || !captured.isEmpty || !capturedElsewhere.isEmpty || !acknowledged.isEmpty }

    /// The end of a read: hands over remote deliveries, gives the stream messages to their stores (pausing
    /// reads while too many bytes wait: `stored` is called on the loop with the bytes of those that completed) and applies acks.
    func finishRead(on channel: Channel, account: Account, logger: Logger, stored: @escaping @Sendable (Int) -> Void) {
        if !remoteDeliveries.isEmpty {
            for (_, piece) in remoteDeliveries { hand(piece) }
            remoteDeliveries.removeAll(keepingCapacity: true)
        }
        if !captured.isEmpty { storeCaptured(on: channel, jetStream: account.jetStream, logger: logger, stored: stored) }
        if !capturedElsewhere.isEmpty { storeCapturedElsewhere(on: channel, stored: stored) }
        if !acknowledged.isEmpty {
            let pending = acknowledged
            acknowledged.removeAll(keepingCapacity: true)
            for (host, sequences) in pending {
                if sequences.isEmpty { host.tick() } else { host.acknowledgeThenDeliver(sequences) }
            }
        }
    }

    /// Hands this read's stream publishes to their stores, and stops reading while too much waits.
    private func storeCaptured(on channel: Channel, jetStream: JetStreamService?, logger: Logger, stored: @escaping @Sendable (Int) -> Void) {
        guard let jetStream else { captured.removeAll(); return }
        let bytes = captured.reduce(0) { $0 + JetStreamService.bytes(of: $1.publish) }
        var queued = 0
        var previous: StreamManager.Managed?
        for item in captured where item.stream !== previous {  // (a read's publishes are mostly one stream's)
            queued = max(queued, item.stream.store.queuedBytes)
            previous = item.stream
        }
        // Counted before the hand-off: publishes the service refuses complete within it, at once.
        if publishWindow.handed(bytes, queued: queued) {
            logger.debug("\(publishWindow.inFlight) bytes of publishes waiting for their streams: reading paused")
            channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
        jetStream.store(captured, on: channel.eventLoop, completed: stored)
        captured.removeAll(keepingCapacity: true)
    }

    /// Messages an import carried into other accounts' streams, handed to those accounts' JetStream (the
    /// publish window counts them as well).
    private func storeCapturedElsewhere(on channel: Channel, stored: @escaping @Sendable (Int) -> Void) {
        let items = capturedElsewhere
        capturedElsewhere.removeAll(keepingCapacity: true)
        var services: [JetStreamService] = []
        for item in items where !services.contains(where: { $0 === item.service }) { services.append(item.service) }
        for service in services {
            let mine = items.filter { $0.service === service }.map { ($0.publish, $0.stream) }
            let bytes = mine.reduce(0) { $0 + JetStreamService.bytes(of: $1.0) }
            if publishWindow.handed(bytes, queued: 0) {
                channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
            }
            service.store(mine, on: channel.eventLoop, completed: stored)
        }
    }
}
