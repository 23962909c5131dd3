#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DynamicJSON
import NATSProtocol
import NIOCore
import StreamStore

/// JetStream's own events as streams see them: advisories the server sends (`$JS.EVENT.…`) are stored by any
/// stream whose subjects capture them, as nats-server does (an audit stream on `$JS.EVENT.ADVISORY.>` is the usual
/// way to keep them), and the damage a start found is announced there once the streams are open.
extension JetStreamService {
    static let eventPrefix = "$JS.EVENT."

    /// True when a message the server sends is a JetStream event (cheap: the hot path's deliveries fail at the
    /// first byte).
    static func isEvent(_ subject: String) -> Bool {
        subject.utf8.first == UInt8(ascii: "$") && subject.hasPrefix(eventPrefix)
    }

    /// Stores the events among `messages` in the streams that capture their subjects (no pub ack: nobody asked).
    func capture(events messages: [OutboundMessage], on loop: any EventLoop) {
        var captured: [(publish: Publish, stream: StreamManager.Managed)] = []
        for message in messages where Self.isEvent(message.to) {
            guard let stream = streams.stream(capturing: message.to) else { continue }
            captured.append((Publish(subject: message.to, reply: nil, headers: message.headers, payload: message.payload), stream))
        }
        if !captured.isEmpty { store(captured, on: loop) }
    }

    /// One advisory per stream found damaged at start, read-only, or holding a consumer record that does not
    /// decode: `$JS.EVENT.ADVISORY.STREAM.DAMAGED.<stream>`, type `io.strata.jetstream.advisory.v1.stream_damaged`
    /// (Strata's own; nats-server has none). Sent once the streams are open and before clients connect (for a
    /// stream deferred at start, when its first open finds it), so an audit stream is what keeps them;
    /// `/healthz`, `/jsz` and the log say the same. This one: the directories that could not be served.
    func adviseDamaged(_ damaged: [StreamManager.Damaged]) {
        let advisories = damaged.map { Self.damageAdvisory($0.name, served: false, findings: [$0.reason]) }
        if !advisories.isEmpty { send(advisories) }
    }

    /// The advisory for a served stream whose first open found damage, a read-only file system, or consumer
    /// records that do not decode (nothing when it found none).
    func adviseDamage(of stream: StreamManager.Managed) {
        var findings: [String] = []
        if let file = stream.store as? OnDemandFileStream {
            if file.isReadOnly { findings.append(Self.servedReadOnly) }
            if !file.recovery.damagedRegions.isEmpty { findings.append("recovered: \(file.recovery)") }
        }
        let consumers = stream.consumers.unrestoredNames
        if !consumers.isEmpty { findings.append("consumer records that do not decode: \(consumers.joined(separator: ", "))") }
        if !findings.isEmpty { send([Self.damageAdvisory(stream.config.name, served: true, findings: findings, consumers: consumers)]) }
    }

    private static func damageAdvisory(_ stream: String, served: Bool, findings: [String], consumers: [String] = []) -> OutboundMessage {
        var object: [String: Any] = ["type": "io.strata.jetstream.advisory.v1.stream_damaged",
                                     "id": Self.ephemeralName() + Self.ephemeralName(),
                                     "timestamp": Self.time(FileStream.systemClock()),
                                     "stream": stream, "served": served, "found": "start", "findings": findings]
        if !consumers.isEmpty { object["consumers_not_restored"] = consumers }
        return OutboundMessage(to: "$JS.EVENT.ADVISORY.STREAM.DAMAGED.\(stream)", payload: ByteBuffer(string: JSONWriter().text(object)))
    }
}
