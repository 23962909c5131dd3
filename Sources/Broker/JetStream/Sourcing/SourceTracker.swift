#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Auth
import NATSProtocol

/// The metadata of a JetStream delivery, read from its ack reply
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>` (the 9-token
/// form nats-server 2.9.10 sends and reads). Pure.
struct DeliveryInfo: Equatable, Sendable {
    var stream: String
    var consumer: String
    var deliveries: UInt64
    var streamSequence: UInt64
    var consumerSequence: UInt64
    var timestamp: Int64
    var pending: UInt64
}

extension DeliveryInfo {
    /// nil for any other subject. (Read on the bytes: every message a mirror or source takes comes here.)
    init?(ackReply reply: String) {
        var reply = reply
        let parsed: DeliveryInfo? = reply.withUTF8 { bytes in
            guard bytes.count > 8, bytes.starts(with: "$JS.ACK.".utf8) else { return nil }
            var fields: [Range<Int>] = []
            fields.reserveCapacity(7)
            var start = 8
            for i in 8..<bytes.count where bytes[i] == UInt8(ascii: ".") {
                fields.append(start..<i)
                start = i + 1
                if fields.count > 6 { return nil }
            }
            fields.append(start..<bytes.count)
            guard fields.count == 7, !fields[0].isEmpty, !fields[1].isEmpty else { return nil }
            func number(_ range: Range<Int>) -> UInt64? {
                guard !range.isEmpty, range.count <= 20 else { return nil }
                var value: UInt64 = 0
                for i in range {
                    let digit = bytes[i] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    let (times, o1) = value.multipliedReportingOverflow(by: 10)
                    let (sum, o2) = times.addingReportingOverflow(UInt64(digit))
                    guard !o1, !o2 else { return nil }
                    value = sum
                }
                return value
            }
            guard let deliveries = number(fields[2]), let stream = number(fields[3]), let consumer = number(fields[4]),
                  let timestamp = number(fields[5]), timestamp <= UInt64(Int64.max), let pending = number(fields[6]) else { return nil }
            func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
            return DeliveryInfo(stream: text(fields[0]), consumer: text(fields[1]), deliveries: deliveries, streamSequence: stream,
                                consumerSequence: consumer, timestamp: Int64(timestamp), pending: pending)
        }
        guard let parsed else { return nil }
        self = parsed
    }
}

/// What one mirror, or one source of a stream, knows of the consumer it reads its origin with, and what
/// each message from that consumer means: nats-server 2.9.10's `processInboundMirrorMsg` and
/// `processInboundSourceMsg` as a pure state machine (Specs/Protocol.md, "Mirrors and sources"). It keeps
/// the origin sequence of the last message taken, so that a new consumer starts right after it: nothing
/// is lost and nothing is stored twice across reconnects.
struct SourceTracker: Equatable, Sendable {
    enum Kind: Equatable, Sendable { case mirror, source }

    /// What to do with one message from the origin's consumer.
    enum Decision: Equatable, Sendable {
        /// Store it: a mirror at `info.streamSequence` (the origin's), a source as its next message.
        case store(DeliveryInfo)
        /// A message from an earlier consumer, a redelivery, or one already taken.
        case ignore
        /// Answer flow control (or a stalled consumer's request) by publishing an empty message here.
        case answer(String)
        /// Something was missed: make a new consumer from the last origin sequence taken.
        case retry
    }

    let kind: Kind
    /// The origin sequence of the last message taken (handed to the store).
    private(set) var streamSequence: UInt64
    /// The consumer sequence of that message on the current consumer (0 before its first).
    private(set) var consumerSequence: UInt64 = 0
    /// The current consumer's name (nil while none is set up).
    private(set) var consumer: String?
    /// Messages the origin still holds beyond the last one taken (stream info's `lag`).
    private(set) var lag: UInt64 = 0

    init(kind: Kind, streamSequence: UInt64) {
        self.kind = kind
        self.streamSequence = streamSequence
    }

    /// The origin sequence a new consumer starts at.
    var nextSequence: UInt64 { streamSequence + 1 }

    /// The consumer is gone (a retry): messages still arriving from it are ignored.
    mutating func cancel() {
        consumer = nil
        consumerSequence = 0
    }

    /// Goes back to what the store holds (after a failed append): `sequence` is the last origin sequence
    /// stored.
    mutating func rewind(to sequence: UInt64) {
        streamSequence = sequence
        cancel()
    }

    /// The origin created consumer `name`, which has delivered up to origin sequence `delivered` (its
    /// start minus one). A mirror does not go back below what it holds.
    mutating func created(consumer name: String, delivered: UInt64) {
        consumer = name
        consumerSequence = 0
        switch kind {
        case .mirror: streamSequence = max(streamSequence, delivered)
        case .source: if delivered > streamSequence { streamSequence = delivered }
        }
    }

    /// A heartbeat or flow-control message (`NATS/1.0 100 …`, no payload): `reply` is a flow-control
    /// request's, `lastConsumer` the heartbeat's `Nats-Last-Consumer`, `stalled` its `Nats-Consumer-Stalled`.
    mutating func control(reply: String?, lastConsumer: UInt64?, stalled: String?) -> Decision {
        if let reply, !reply.isEmpty { return .answer(reply) }
        guard consumer != nil else { return .ignore }
        if let last = lastConsumer, last > 0, last != consumerSequence { return .retry }
        if let stalled, !stalled.isEmpty { return .answer(stalled) }
        return .ignore
    }

    /// A message delivered to the consumer.
    mutating func message(_ info: DeliveryInfo) -> Decision {
        guard let consumer, info.consumer == consumer else { return .ignore }
        if info.deliveries > 1 { return .ignore }
        switch kind {
        case .mirror:
            if info.streamSequence == streamSequence + 1 {
                consumerSequence = info.consumerSequence
                streamSequence += 1
            } else if info.streamSequence <= streamSequence {
                return .ignore
            } else if info.consumerSequence == consumerSequence + 1 {
                // The origin removed the messages in between (expired, deleted): skipped here too.
                consumerSequence += 1
                streamSequence = info.streamSequence
            } else {
                return .retry
            }
        case .source:
            if info.consumerSequence == consumerSequence + 1 {
                consumerSequence += 1
                streamSequence = info.streamSequence
            } else if info.consumerSequence > consumerSequence {
                return .retry
            } else {
                return .ignore
            }
        }
        lag = info.pending == 0 ? 0 : info.pending - 1
        return .store(info)
    }
}

/// The `Nats-Stream-Source` header a source adds to each message it stores (`<index name> <origin seq>`),
/// which tells where to resume after a restart, and the index name of a source (its stream name, with
/// `:` and a hash of the external API prefix for an origin reached through one). Pure.
enum SourceHeader {
    static let name = "Nats-Stream-Source"

    /// `source`'s index name, as nats-server's `setIndexName`.
    static func indexName(of source: APIStreamSource) -> String {
        guard let api = source.external?.api else { return source.name }
        return source.name + ":" + hash(api)
    }

    /// nats-server's `getHash`: the first 8 bytes of the SHA-256 of `text`, each as one of 62 digits.
    static func hash(_ text: String) -> String {
        let digits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        return String(SHA256Digest.digest(Array(text.utf8)).prefix(8).map { digits[Int($0 % 62)] })
    }

    static func value(indexName: String, sequence: UInt64) -> String { "\(indexName) \(sequence)" }

    /// The index name and origin sequence a header value names (also the old form, the origin's ack reply).
    static func parse(_ value: String) -> (indexName: String, sequence: UInt64)? {
        if value.hasPrefix("$JS.ACK.") {
            guard let info = DeliveryInfo(ackReply: value) else { return nil }
            return (info.stream, info.streamSequence)
        }
        let fields = value.split(separator: " ")
        guard fields.count == 2, let sequence = UInt64(fields[1]) else { return nil }
        return (String(fields[0]), sequence)
    }
}

