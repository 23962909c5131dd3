/// A consumer's configuration, with the JetStream API's field names and nats-server 2.9.10's defaults
/// (ack_wait 30 s, max_deliver -1, max_ack_pending 1000, max_waiting 512, replay instant).
/// Durations are nanoseconds, as on the wire.
public struct ConsumerConfig: Codable, Equatable, Sendable {
    public enum DeliverPolicy: String, Codable, Sendable {
        case all, last, new
        case byStartSequence = "by_start_sequence"
        case byStartTime = "by_start_time"
        case lastPerSubject = "last_per_subject"
    }

    public enum AckPolicy: String, Codable, Sendable { case none, all, explicit }
    public enum ReplayPolicy: String, Codable, Sendable { case instant, original }

    public var durableName: String?
    public var name: String?
    public var description: String?
    public var deliverPolicy: DeliverPolicy = .all
    public var optStartSeq: UInt64?
    /// Nanoseconds since the epoch. Decoded from the API's RFC 3339 text (any fraction digits, any offset)
    /// or from the number this type encodes it as (the stored consumer record); the API's answers show it
    /// as RFC 3339 again.
    public var optStartTime: Int64?
    public var ackPolicy: AckPolicy = .none
    public var ackWait: Int64 = 30_000_000_000
    /// -1 = unlimited.
    public var maxDeliver: Int = -1
    public var backoff: [Int64] = []
    public var filterSubject: String?
    public var replayPolicy: ReplayPolicy = .instant
    /// -1 = unlimited.
    public var maxAckPending: Int = 1000
    public var maxWaiting: Int = 512
    public var headersOnly = false
    public var inactiveThreshold: Int64 = 0
    public var deliverSubject: String?
    public var deliverGroup: String?
    public var flowControl = false
    public var idleHeartbeat: Int64 = 0
    /// Push consumers: at most this many bits a second of messages (0 = no limit).
    public var rateLimit: UInt64 = 0
    /// Replicas asked for (0 = the stream's; a single server serves only 1).
    public var numReplicas = 0
    /// Pull consumers: the largest batch one request may ask for (0 = no limit).
    public var maxRequestBatch = 0
    /// Pull consumers: the longest `expires` (ns) one request may ask for (nil = no limit).
    public var maxRequestExpires: Int64?
    /// Pull consumers: the largest `max_bytes` one request may ask for (nil = no limit).
    public var maxRequestMaxBytes: Int?
    /// `sample_freq`, as given: a percentage of explicit acks (`"100%"` or `"100"`) reported as ack metrics
    /// on `$JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>` (nil = none). See ``samplePercent``.
    public var sampleFrequency: String?
    /// `mem_storage`: the consumer's state is kept in memory only, even on a file stream (nil = false), so a
    /// restart forgets the consumer, as nats-server's memory consumer stores do.
    public var memoryStorage: Bool?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case durableName = "durable_name", name, description
        case deliverPolicy = "deliver_policy", optStartSeq = "opt_start_seq", optStartTime = "opt_start_time"
        case ackPolicy = "ack_policy", ackWait = "ack_wait", maxDeliver = "max_deliver", backoff
        case filterSubject = "filter_subject", replayPolicy = "replay_policy", maxAckPending = "max_ack_pending"
        case maxWaiting = "max_waiting", headersOnly = "headers_only", inactiveThreshold = "inactive_threshold"
        case deliverSubject = "deliver_subject", deliverGroup = "deliver_group", flowControl = "flow_control"
        case idleHeartbeat = "idle_heartbeat", rateLimit = "rate_limit_bps"
        case numReplicas = "num_replicas", maxRequestBatch = "max_batch"
        case maxRequestExpires = "max_expires", maxRequestMaxBytes = "max_bytes", sampleFrequency = "sample_freq"
        case memoryStorage = "mem_storage"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        durableName = try c.decodeIfPresent(String.self, forKey: .durableName)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        deliverPolicy = try c.decodeIfPresent(DeliverPolicy.self, forKey: .deliverPolicy) ?? .all
        optStartSeq = try c.decodeIfPresent(UInt64.self, forKey: .optStartSeq)
        // (try?: not a string: the stored form, a number, is read next)
        if let text = try? c.decodeIfPresent(String.self, forKey: .optStartTime) {
            guard let time = RFC3339.nanoseconds(text) else {
                throw DecodingError.dataCorruptedError(forKey: .optStartTime, in: c, debugDescription: "not an RFC 3339 time: \(text)")
            }
            optStartTime = time
        } else {
            optStartTime = try c.decodeIfPresent(Int64.self, forKey: .optStartTime)
        }
        ackPolicy = try c.decodeIfPresent(AckPolicy.self, forKey: .ackPolicy) ?? .none
        ackWait = try c.decodeIfPresent(Int64.self, forKey: .ackWait) ?? 0
        maxDeliver = try c.decodeIfPresent(Int.self, forKey: .maxDeliver) ?? -1
        backoff = try c.decodeIfPresent([Int64].self, forKey: .backoff) ?? []
        filterSubject = try c.decodeIfPresent(String.self, forKey: .filterSubject)
        replayPolicy = try c.decodeIfPresent(ReplayPolicy.self, forKey: .replayPolicy) ?? .instant
        maxAckPending = try c.decodeIfPresent(Int.self, forKey: .maxAckPending) ?? 0
        maxWaiting = try c.decodeIfPresent(Int.self, forKey: .maxWaiting) ?? 0
        headersOnly = try c.decodeIfPresent(Bool.self, forKey: .headersOnly) ?? false
        inactiveThreshold = try c.decodeIfPresent(Int64.self, forKey: .inactiveThreshold) ?? 0
        deliverSubject = try c.decodeIfPresent(String.self, forKey: .deliverSubject)
        deliverGroup = try c.decodeIfPresent(String.self, forKey: .deliverGroup)
        flowControl = try c.decodeIfPresent(Bool.self, forKey: .flowControl) ?? false
        idleHeartbeat = try c.decodeIfPresent(Int64.self, forKey: .idleHeartbeat) ?? 0
        rateLimit = try c.decodeIfPresent(UInt64.self, forKey: .rateLimit) ?? 0
        numReplicas = try c.decodeIfPresent(Int.self, forKey: .numReplicas) ?? 0
        maxRequestBatch = try c.decodeIfPresent(Int.self, forKey: .maxRequestBatch) ?? 0
        // Zero and false are the reference's omitted values (`omitempty`): kept as nil, so not echoed.
        maxRequestExpires = try c.decodeIfPresent(Int64.self, forKey: .maxRequestExpires).flatMap { $0 == 0 ? nil : $0 }
        maxRequestMaxBytes = try c.decodeIfPresent(Int.self, forKey: .maxRequestMaxBytes).flatMap { $0 == 0 ? nil : $0 }
        sampleFrequency = try c.decodeIfPresent(String.self, forKey: .sampleFrequency).flatMap { $0.isEmpty ? nil : $0 }
        memoryStorage = try c.decodeIfPresent(Bool.self, forKey: .memoryStorage).flatMap { $0 ? true : nil }
        // Zero means "the default", where the reference has one (its setConsumerConfigDefaults): ack wait and
        // max ack pending only with acks, max waiting only for pull consumers; backoff sets the ack wait.
        let acks = ackPolicy != .none
        if ackWait <= 0 && acks { ackWait = 30_000_000_000 }
        if let first = backoff.first { ackWait = first }
        if maxDeliver == 0 { maxDeliver = -1 }
        if maxAckPending == 0 && acks { maxAckPending = 1000 }
        if maxWaiting == 0 && deliverSubject == nil { maxWaiting = 512 }
    }

    /// `sample_freq` as a percentage: its digits with an optional `%` after them (nil when it is not
    /// that, or is negative: the configuration check refuses it). Values above 100 sample every ack.
    public var samplePercent: Int? {
        guard let text = sampleFrequency else { return 0 }
        return Self.percent(text)
    }

    /// A `sample_freq` text as a percentage (digits, optionally signed, then an optional `%`), or nil when it
    /// is not one or is negative.
    public static func percent(_ text: String) -> Int? {
        guard let percent = Int(percentDigits(text)), percent >= 0 else { return nil }
        return percent
    }

    /// A `sample_freq` text without its one optional trailing `%` (what the reference gives `strconv.Atoi`).
    public static func percentDigits(_ text: String) -> String { text.hasSuffix("%") ? String(text.dropLast()) : text }

    /// How long to wait for an ack of a message's `deliveries`-th delivery: the backoff entry for that
    /// delivery when backoff is set (the last entry repeating), else ack_wait.
    public func ackDeadline(afterDelivery deliveries: Int) -> Int64 {
        guard !backoff.isEmpty else { return ackWait }
        return backoff[min(max(deliveries - 1, 0), backoff.count - 1)]
    }
}
