import DynamicJSON
import NATSProtocol

/// The consumer-create request a mirror or a source sends to its origin, as nats-server 2.9.10's
/// `setupMirrorConsumer` / `setSourceConsumer` make it: an ephemeral push consumer with flow control and
/// 1 s heartbeats, no acks, one delivery each, starting where the stream left off. Pure.
struct SourceConsumerRequest: Equatable, Sendable {
    /// Where the new consumer starts.
    enum Start: Equatable, Sendable {
        case all
        case sequence(UInt64)
        /// An RFC 3339 time.
        case time(String)
    }

    var subject: String
    var body: String

    /// `name` is the consumer's name when the origin is filtered (the filter then goes in the subject,
    /// `CONSUMER.CREATE.<origin>.<name>.<filter>`).
    init(origin: APIStreamSource, deliverSubject: String, start: Start, name: String) {
        var config: [String: Any] = [
            "deliver_subject": deliverSubject, "ack_policy": "none", "ack_wait": 22 * 3600 * 1_000_000_000 as Int64,
            "max_deliver": 1, "idle_heartbeat": 1_000_000_000, "flow_control": true, "direct": true,
        ]
        switch start {
        case .all: config["deliver_policy"] = "all"
        case .sequence(let sequence):
            config["deliver_policy"] = "by_start_sequence"
            config["opt_start_seq"] = sequence
        case .time(let time):
            config["deliver_policy"] = "by_start_time"
            config["opt_start_time"] = time
        }
        var subject = "$JS.API.CONSUMER.CREATE." + origin.name
        if let filter = origin.filterSubject {
            config["filter_subject"] = filter
            config["name"] = name
            subject += "." + name + "." + filter
        }
        if let api = origin.external?.api, !api.isEmpty {
            subject = (api + subject.dropFirst("$JS.API".count)).replacing("..", with: ".")
        }
        self.subject = subject
        body = JSONWriter().text(["stream_name": origin.name, "config": config] as [String: Any])
    }

    /// The delivery subject of a new consumer: `$JS.M.<random>` for a mirror, `$JS.S.<random>` for a
    /// source, or under the external delivery prefix.
    static func deliverSubject(mirror: Bool, external: APIStreamSource.External?, random: String) -> String {
        let tail = (mirror ? "M." : "S.") + random
        guard let prefix = external?.deliver, !prefix.isEmpty else { return "$JS." + tail }
        return (prefix + "." + tail).replacing("..", with: ".")
    }
}
