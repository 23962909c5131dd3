import Consumers
import NATSConfig
import NATSProtocol
import Subjects

/// nats-server 2.9's checks of a consumer's configuration (its `checkConsumerCfg`, then the work-queue
/// rules), in its order and with its errors. Pure: a config and its stream's config in, the refusal out.
enum ConsumerConfigCheck {
    static let maxDescriptionLength = 4096

    /// The first rule `config` breaks for a stream configured as `stream`, or nil.
    static func refusal(_ config: ConsumerConfig, stream: APIStreamConfig) -> APIError? {
        func bad(_ errCode: Int, _ description: String, code: Int = 400) -> APIError {
            APIError(code: code, errCode: errCode, description: description)
        }
        if config.numReplicas > 1 { return .replicasNotSupported }
        if config.numReplicas < 0 { return bad(10133, "replicas count cannot be negative") }
        if !config.backoff.isEmpty && config.maxDeliver <= config.backoff.count {
            return bad(10116, "max deliver is required to be > length of backoff values")
        }
        if (config.description?.utf8.count ?? 0) > maxDescriptionLength {
            return bad(10107, "consumer description is too long, maximum allowed is \(maxDescriptionLength)")
        }
        if let deliver = config.deliverSubject {
            if !Subject.isValidFilter(deliver) { return bad(10112, "invalid push consumer deliver subject") }
            if !Subject.isValidLiteral(deliver) { return bad(10079, "consumer deliver subject has wildcards") }
            if stream.subjects.contains(where: { Subject.matches(deliver, filter: $0) }) {
                return bad(10081, "consumer deliver subject forms a cycle")
            }
            if config.maxWaiting != 0 { return bad(10080, "consumer in push mode can not set max waiting") }
            if config.maxAckPending > 0 && config.ackPolicy == .none {
                return bad(10082, "consumer requires ack policy for max ack pending")
            }
            if config.idleHeartbeat > 0 && config.idleHeartbeat < 100_000_000 {
                return bad(10083, "consumer idle heartbeat needs to be >= 100ms")
            }
        } else {
            if config.ackPolicy == .none && stream.retention == .workqueue {
                return bad(10084, "consumer in pull mode requires ack policy")
            }
            if config.rateLimit > 0 { return bad(10086, "consumer in pull mode can not have rate limit set") }
            if config.maxWaiting < 0 { return bad(10087, "consumer max waiting needs to be positive") }
            if config.idleHeartbeat > 0 { return bad(10088, "consumer idle heartbeat requires a push based consumer") }
            if config.flowControl { return bad(10089, "consumer flow control requires a push based consumer") }
            if config.maxRequestBatch < 0 { return bad(10114, "consumer max request batch needs to be > 0") }
            if let expires = config.maxRequestExpires, expires < 1_000_000 {
                return bad(10115, "consumer max request expires needs to be >= 1ms")
            }
        }
        if let filter = config.filterSubject {
            let fits = Subject.isValidFilter(filter) && stream.subjects.contains { Subject.isSubset(filter, of: $0) || filter == $0 }
            if !fits { return bad(10093, "consumer filter subject is not a valid subset of the interest subjects") }
        }
        if let policy = deliverPolicyRefusal(config) { return bad(10094, policy) }
        if let reason = samplingRefusal(config.sampleFrequency) {
            return bad(10095, "failed to parse consumer sampling configuration: \(reason)")
        }
        if config.flowControl && config.idleHeartbeat == 0 { return bad(10108, "consumer with flow control also needs heartbeats") }
        if let durable = config.durableName, let name = config.name, durable != name {
            return bad(10132, "Consumer Durable and Name have to be equal if both are provided")
        }
        return nil
    }

    /// A deliver policy against the start fields it needs or forbids (the reference's order and words).
    static func deliverPolicyRefusal(_ config: ConsumerConfig) -> String? {
        func alsoSet(_ policy: String, _ start: String) -> String {
            "consumer delivery policy is deliver \(policy), but optional start \(start) is also set"
        }
        func notSet(_ policy: String, _ field: String) -> String {
            "consumer delivery policy is deliver \(policy), but optional \(field) is not set"
        }
        let sequence = (config.optStartSeq ?? 0) > 0, time = config.optStartTime != nil
        switch config.deliverPolicy {
        case .all, .last, .new, .lastPerSubject:
            let name = config.deliverPolicy == .lastPerSubject ? "last per subject" : config.deliverPolicy.rawValue
            if sequence { return alsoSet(name, "sequence") }
            if time { return alsoSet(name, "time") }
            if config.deliverPolicy == .lastPerSubject && config.filterSubject == nil { return notSet(name, "filter subject") }
        case .byStartSequence:
            if !sequence { return notSet("by start sequence", "start sequence") }
            if time { return alsoSet("by start sequence", "time") }
        case .byStartTime:
            if !time { return notSet("by start time", "start time") }
            if sequence { return alsoSet("by start time", "start sequence") }
        }
        return nil
    }

    /// Why `sample_freq` does not parse, in the words of the reference (Go's `strconv.Atoi` error, or
    /// `<nil>` for a negative number, which parses but is refused), or nil when it is absent or fine.
    static func samplingRefusal(_ text: String?) -> String? {
        guard let text, ConsumerConfig.percent(text) == nil else { return nil }
        let digits = ConsumerConfig.percentDigits(text)
        let unsigned = digits.first == "-" || digits.first == "+" ? digits.dropFirst() : Substring(digits)
        if !unsigned.isEmpty && unsigned.allSatisfy({ $0.isASCII && $0.isNumber }) {
            return digits.first == "-" && Int(digits) != nil ? "<nil>" : "strconv.Atoi: parsing \"\(digits)\": value out of range"
        }
        return "strconv.Atoi: parsing \"\(digits)\": invalid syntax"
    }

    /// A pull request's refusal by the consumer's request limits (409, as the reference), or nil.
    /// `expires` and `maxBytes` are the request's (nil or 0: not asked for).
    static func pullRefusal(batch: Int, expires: Int64?, maxBytes: Int?, config: ConsumerConfig) -> String? {
        if config.maxRequestBatch > 0 && batch > config.maxRequestBatch { return "Exceeded MaxRequestBatch of \(config.maxRequestBatch)" }
        if let limit = config.maxRequestExpires, let expires, expires > limit {
            return "Exceeded MaxRequestExpires of \(GoDuration.text(nanoseconds: limit))"
        }
        if let limit = config.maxRequestMaxBytes, let maxBytes, maxBytes > limit { return "Exceeded MaxRequestMaxBytes of \(limit)" }
        return nil
    }
}
