#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// The delivery, acknowledgement and redelivery state machine of one JetStream consumer.
///
/// Pure: no I/O, no locks, no clock — every input carries `now` (ns), and what the engine needs from the
/// stream comes through a ``Lookup`` the owner passes in. It returns ``ConsumerAction``s for the owner to
/// carry out (send a message, send a status, publish an advisory, persist ``state``). The owner calls
/// ``tick(now:lookup:)`` at ``nextDeadline`` and after new messages arrive.
public struct ConsumerEngine: Sendable {
    /// A message of the stream, as the engine needs to know it.
    public struct Message: Equatable, Sendable {
        public var sequence: UInt64
        public var subject: String
        /// Bytes the message counts for against a pull request's max_bytes.
        public var size: Int
        public var timestamp: Int64
        public init(sequence: UInt64, subject: String, size: Int, timestamp: Int64) {
            self.sequence = sequence
            self.subject = subject
            self.size = size
            self.timestamp = timestamp
        }
    }

    /// The first stream message at or after a sequence that matches the consumer's filter, or nil.
    public typealias Lookup = (UInt64) -> Message?

    public let stream: String
    public let name: String
    public private(set) var config: ConsumerConfig
    public private(set) var state: ConsumerState
    /// Waiting pull requests, oldest first (not durable: clients re-issue them).
    public private(set) var waiting: [PullRequest] = []
    /// For push consumers: whether someone listens on the deliver subject (the owner tracks interest).
    public var pushActive = false
    /// For push consumers: the bytes (payload and headers) one step may deliver, at least one message
    /// (flow control's window, or a step's size without it; set by the owner before each step); nil: no limit.
    public var pushByteBudget: Int?
    /// Whether the last step of a push consumer stopped at ``pushByteBudget`` (there may be more to send: its
    /// owner paces the next step).
    public private(set) var stoppedAtBudget = false
    /// A lower bound of the earliest ack deadline among pending messages not queued for redelivery (nil:
    /// none). Kept so that a tick or ``nextDeadline`` does not scan every pending message: a scan happens
    /// only once the bound is reached, and sets it exactly.
    private var deadlineBound: Int64?
    /// Replay original: (stored timestamp, delivery time) of the last new message delivered.
    private var replayLast: (Int64, Int64)?
    /// When delivery held back by replay original or the rate limit may go on (nil: not held).
    private var heldUntil: Int64?
    /// Rate limit (push): when the next delivery may go.
    private var rateReadyAt: Int64 = .min
    /// `sample_freq`'s credit: each explicit ack adds the percentage, and an ack that brings it to 100 is
    /// sampled (and takes 100 off). So exactly that share of acks is sampled, evenly spread, without a random
    /// source (the reference draws a random number per ack).
    private var sampleCredit = 0

    /// Creates a consumer that starts delivering at `startSequence` (from ``startSequence(for:lastSequence:…)``),
    /// or resumes from a persisted `state`.
    /// `initialSequences` (for `last_per_subject`) are delivered first, in order; new messages then start at
    /// `startSequence`.
    public init(stream: String, name: String, config: ConsumerConfig, startSequence: UInt64, initialSequences: [UInt64] = [],
                state: ConsumerState? = nil) {
        self.stream = stream
        self.name = name
        self.config = config
        if let state {
            self.state = state
        } else {
            var fresh = ConsumerState()
            fresh.delivered.streamSeq = startSequence > 0 ? startSequence - 1 : 0
            fresh.ackFloor.streamSeq = fresh.delivered.streamSeq
            fresh.initialSequences = initialSequences.isEmpty ? nil : initialSequences
            self.state = fresh
        }
        deadlineBound = self.state.pending.values.map(\.deadline).min()
    }

    // MARK: Counters (consumer info)

    public var numAckPending: Int { state.pending.count }
    public var numRedelivered: Int { state.pending.values.filter { $0.deliveries > 1 }.count }
    public var numWaiting: Int { waiting.count }

    /// Whether this consumer is done with `sequence` (on `subject`): not interested (filter does not
    /// match), or acknowledged. For interest retention.
    public func isDone(with sequence: UInt64, subject: String, matches: (String, String) -> Bool) -> Bool {
        if let filter = config.filterSubject, !matches(subject, filter) { return true }
        if sequence <= state.ackFloor.streamSeq { return true }
        return sequence <= state.delivered.streamSeq && state.pending[sequence] == nil && state.initialSequences?.contains(sequence) != true
    }

    // MARK: Inputs

    /// A pull request arrives (`CONSUMER.MSG.NEXT`): queued, then served from what is available.
    public mutating func pull(_ request: PullRequest, now: Int64, lookup: Lookup) -> [ConsumerAction] {
        if config.maxWaiting > 0 && waiting.count >= config.maxWaiting {
            return [.status(to: request.replyTo, code: 409, description: "Exceeded MaxWaiting")]
        }
        var request = request
        request.receivedAt = now
        request.lastSentAt = now
        waiting.append(request)
        var actions = fill(now: now, lookup: lookup)
        // no_wait, as nats-server 2.9: nothing there and no expires ends at once with 404; with expires it
        // waits like any request (until it expires, or until messages come and it ends as below).
        if let index = waiting.firstIndex(where: { $0.id == request.id }), waiting[index].noWait, waiting[index].delivered == 0,
           waiting[index].expires == nil {
            waiting.remove(at: index)
            actions.append(.status(to: request.replyTo, code: 404, description: "No Messages"))
        }
        endPartlyServedNoWait(&actions)
        return actions
    }

    /// A no_wait request that was sent some messages and reached the end of what there is ends with 408
    /// and what it still wanted (the reference's end-of-stream rule). Called after every fill: a request
    /// still waiting after one was not completed by it.
    private mutating func endPartlyServedNoWait(_ actions: inout [ConsumerAction]) {
        guard waiting.contains(where: { $0.noWait && $0.delivered > 0 }) else { return }
        waiting.removeAll { request in
            guard request.noWait && request.delivered > 0 else { return false }
            actions.append(.requestExpired(to: request.replyTo, pendingMessages: request.batch - request.delivered,
                                           pendingBytes: request.maxBytes.map { max($0 - request.deliveredBytes, 0) } ?? 0))
            return true
        }
    }

    /// An acknowledgement for `streamSequence` arrives on its ack subject.
    /// With `deliver` false, what the ack frees is not filled now: the owner calls ``tick(now:lookup:)``
    /// after a run of acks (one delivery pass for many acks).
    public mutating func acknowledge(streamSequence: UInt64, _ kind: AckKind, now: Int64, lookup: Lookup,
                                     deliver: Bool = true) -> [ConsumerAction] {
        guard config.ackPolicy != .none else { return [] }
        var actions: [ConsumerAction] = []
        switch kind {
        case .ack:
            if config.ackPolicy == .all {
                // Everything pending up to the sequence, taken from the front of the ordered pending set.
                actions.append(.acknowledged(streamSequences: state.pending.removeAll(atOrBelow: streamSequence)))
            } else {
                guard let pending = state.pending.removeValue(forKey: streamSequence) else { return [] }
                if let sample = sampled(streamSequence, pending, now: now) { actions.append(sample) }
                actions.append(.acknowledged(streamSequences: [streamSequence]))
            }
            state.redeliveryQueue.removeAll { state.pending[$0] == nil }
        case .term:
            guard state.pending.removeValue(forKey: streamSequence) != nil else { return [] }
            state.redeliveryQueue.removeAll { $0 == streamSequence }
            actions.append(.acknowledged(streamSequences: [streamSequence]))
        case .inProgress:
            guard var pending = state.pending[streamSequence] else { return [] }
            pending.deadline = now + config.ackDeadline(afterDelivery: pending.deliveries)
            state.pending[streamSequence] = pending
            noteDeadline(pending.deadline)
            return [.persist]
        case .nak(let delay):
            guard var pending = state.pending[streamSequence] else { return [] }
            if let delay, delay > 0 {
                pending.deadline = now + delay
                state.pending[streamSequence] = pending
                noteDeadline(pending.deadline)
            } else {
                pending.deadline = now
                state.pending[streamSequence] = pending
                enqueueRedelivery(streamSequence)
            }
        }
        updateAckFloor()
        actions.append(.persist)
        if deliver {
            actions.append(contentsOf: fill(now: now, lookup: lookup))
            endPartlyServedNoWait(&actions)
        }
        return actions
    }

    /// The ack metric for an explicit ack of `pending`, when `sample_freq` picks this ack.
    private mutating func sampled(_ sequence: UInt64, _ pending: ConsumerState.Pending, now: Int64) -> ConsumerAction? {
        guard let percent = config.samplePercent, percent > 0 else { return nil }
        sampleCredit += min(percent, 100)
        guard sampleCredit >= 100 else { return nil }
        sampleCredit -= 100
        return .ackSampled(streamSequence: sequence, consumerSequence: pending.consumerSeq, deliveries: pending.deliveries,
                           ackTime: max(0, now - pending.deliveredAt))
    }

    /// Time passes: expired pull requests end (408), overdue deliveries are queued for redelivery (or
    /// dropped with an advisory at max_deliver), then whatever can be delivered is.
    public mutating func tick(now: Int64, lookup: Lookup) -> [ConsumerAction] {
        var actions: [ConsumerAction] = []
        waiting.removeAll { request in
            guard let expires = request.expires, request.receivedAt + expires <= now else { return false }
            actions.append(.requestExpired(to: request.replyTo, pendingMessages: request.batch - request.delivered,
                                           pendingBytes: request.maxBytes.map { max($0 - request.deliveredBytes, 0) } ?? 0))
            return true
        }
        for index in waiting.indices {
            guard let interval = waiting[index].idleHeartbeat, waiting[index].lastSentAt + interval <= now else { continue }
            waiting[index].lastSentAt = now
            actions.append(.idleHeartbeat(to: waiting[index].replyTo))
        }
        var changed = false
        if let bound = deadlineBound, bound <= now {
            // The bound is reached: scan, act on what is overdue, and set the bound exactly.
            let queued = Set(state.redeliveryQueue)
            var overdue: [(UInt64, ConsumerState.Pending)] = []
            var earliest: Int64?
            for (sequence, pending) in state.pending where !queued.contains(sequence) {
                if pending.deadline <= now { overdue.append((sequence, pending)) } else { earliest = min(earliest ?? .max, pending.deadline) }
            }
            deadlineBound = earliest
            for (sequence, pending) in overdue.sorted(by: { $0.0 < $1.0 }) {
                if config.maxDeliver > 0 && pending.deliveries >= config.maxDeliver {
                    state.pending[sequence] = nil
                    actions.append(.maxDeliveriesReached(streamSequence: sequence, deliveries: pending.deliveries))
                } else {
                    enqueueRedelivery(sequence)
                }
                changed = true
            }
        }
        if changed {
            updateAckFloor()
            actions.append(.persist)
        }
        actions.append(contentsOf: fill(now: now, lookup: lookup))
        endPartlyServedNoWait(&actions)
        return actions
    }

    /// When the owner must call ``tick(now:lookup:)`` next (an ack deadline or a request's expiry), if ever.
    public var nextDeadline: Int64? {
        var next = deadlineBound
        for request in waiting {
            if let expires = request.expires { next = min(next ?? .max, request.receivedAt + expires) }
            if let interval = request.idleHeartbeat { next = min(next ?? .max, request.lastSentAt + interval) }
        }
        if let due = heldUntil { next = min(next ?? .max, due) }
        return next
    }

    /// Updates the configuration (the API decides which fields may change).
    public mutating func update(config: ConsumerConfig) { self.config = config }

    // MARK: Delivery

    /// Delivers as much as the targets, max_ack_pending and the stream allow.
    private mutating func fill(now: Int64, lookup: Lookup) -> [ConsumerAction] {
        var actions: [ConsumerAction] = []
        var persist = false
        var pushedBytes = 0
        heldUntil = nil
        stoppedAtBudget = false
        while let target = currentTarget() {
            if case .push = target, let budget = pushByteBudget, pushedBytes > 0, pushedBytes >= budget {
                stoppedAtBudget = true
                break
            }
            guard let (message, kind) = nextMessage(lookup: lookup) else { break }
            // Replay original: a new message waits until as long after the previous delivery as it was
            // stored after the previous message.
            if config.replayPolicy == .original, kind == .new, let (storedAt, sentAt) = replayLast {
                let due = sentAt + max(0, message.timestamp - storedAt)
                if due > now {
                    heldUntil = due
                    putBack(message.sequence, kind)
                    break
                }
            }
            // Rate limit: each delivery pushes the next one back by its size at the allowed rate.
            if config.rateLimit > 0, case .push = target {
                if rateReadyAt > now {
                    heldUntil = rateReadyAt
                    putBack(message.sequence, kind)
                    break
                }
                rateReadyAt = now + Int64(min(Double(message.size) * 8 / Double(config.rateLimit) * 1e9, 3.6e12))
            }
            // A pull request's max_bytes: a message that can never fit ends the request with 409.
            if case .pull(let index) = target, let limit = waiting[index].maxBytes, limit > 0 {
                let left = limit - waiting[index].deliveredBytes
                if message.size > left {
                    let request = waiting.remove(at: index)
                    actions.append(.status(to: request.replyTo, code: 409, description: "Message Size Exceeds MaxBytes"))
                    putBack(message.sequence, kind)
                    continue
                }
            }
            let deliveries = (state.pending[message.sequence]?.deliveries ?? 0) + 1
            state.delivered.consumerSeq += 1
            if kind == .new {
                state.delivered.streamSeq = message.sequence
                if config.replayPolicy == .original { replayLast = (message.timestamp, now) }
            }
            if config.ackPolicy == .none {
                state.ackFloor = state.delivered
            } else {
                let deadline = now + config.ackDeadline(afterDelivery: deliveries)
                state.pending[message.sequence] = ConsumerState.Pending(
                    consumerSeq: state.delivered.consumerSeq, deliveredAt: now, deliveries: deliveries, deadline: deadline)
                noteDeadline(deadline)
            }
            persist = true
            let to: String
            switch target {
            case .push(let subject):
                to = subject
                pushedBytes += message.size
            case .pull(let index):
                to = waiting[index].replyTo
                waiting[index].lastSentAt = now
                waiting[index].delivered += 1
                waiting[index].deliveredBytes += message.size
                if waiting[index].delivered >= waiting[index].batch || (waiting[index].maxBytes.map { $0 > 0 && waiting[index].deliveredBytes >= $0 } ?? false) {
                    waiting.remove(at: index)
                }
            }
            actions.append(.deliver(Delivery(to: to, streamSequence: message.sequence, consumerSequence: state.delivered.consumerSeq,
                                             deliveries: deliveries, subject: message.subject, timestamp: message.timestamp,
                                             remainingInitial: state.initialSequences?.count ?? 0)))
        }
        if persist { actions.append(.persist) }
        return actions
    }

    private enum Target { case push(String), pull(Int) }

    private func currentTarget() -> Target? {
        if let subject = config.deliverSubject { return pushActive ? .push(subject) : nil }
        return waiting.isEmpty ? nil : .pull(0)
    }

    private enum Source { case redelivery, initial, new }

    /// The next message to send: a queued redelivery first, then (unless max_ack_pending is reached) an
    /// initial `last_per_subject` message, then the next new one. Messages gone from the stream are skipped.
    private mutating func nextMessage(lookup: Lookup) -> (Message, Source)? {
        while let sequence = state.redeliveryQueue.first {
            state.redeliveryQueue.removeFirst()
            guard state.pending[sequence] != nil else { continue }
            if let message = lookup(sequence), message.sequence == sequence { return (message, .redelivery) }
            state.pending[sequence] = nil  // removed from the stream meanwhile
            updateAckFloor()
        }
        if config.ackPolicy != .none && config.maxAckPending > 0 && state.pending.count >= config.maxAckPending { return nil }
        while var initial = state.initialSequences, let sequence = initial.first {
            initial.removeFirst()
            state.initialSequences = initial.isEmpty ? nil : initial
            if let message = lookup(sequence), message.sequence == sequence { return (message, .initial) }
        }
        guard let message = lookup(state.delivered.streamSeq + 1) else { return nil }
        return (message, .new)
    }

    /// Returns a message taken by ``nextMessage(lookup:)`` but not sent, so that it comes next again.
    private mutating func putBack(_ sequence: UInt64, _ kind: Source) {
        switch kind {
        case .redelivery: state.redeliveryQueue.insert(sequence, at: 0)
        case .initial: state.initialSequences = [sequence] + (state.initialSequences ?? [])
        case .new: break
        }
    }

    private mutating func enqueueRedelivery(_ sequence: UInt64) {
        guard !state.redeliveryQueue.contains(sequence) else { return }
        let index = state.redeliveryQueue.firstIndex { $0 > sequence } ?? state.redeliveryQueue.endIndex
        state.redeliveryQueue.insert(sequence, at: index)
    }

    /// The ack floor: everything below the oldest pending message (or all delivered when none is pending).
    private mutating func updateAckFloor() {
        guard !state.pending.isEmpty else {
            state.ackFloor = state.delivered
            return
        }
        // The pending set is ordered: its first entry is the oldest.
        let sequence = state.pending.first!
        let oldest = state.pending[sequence]!
        state.ackFloor = ConsumerState.SequencePair(consumerSeq: oldest.consumerSeq > 0 ? oldest.consumerSeq - 1 : 0,
                                                    streamSeq: sequence > 0 ? sequence - 1 : 0)
    }

    /// Lowers the deadline bound to `deadline` if it is earlier.
    private mutating func noteDeadline(_ deadline: Int64) {
        deadlineBound = min(deadlineBound ?? .max, deadline)
    }

    // MARK: Start position

    /// The first stream sequence to deliver for a deliver policy. The closures answer from the stream:
    /// the first sequence at or after a time, and the last sequence of the filter.
    public static func startSequence(for config: ConsumerConfig, firstSequence: UInt64, lastSequence: UInt64,
                                     lastMatching: () -> UInt64?, firstAtOrAfterTime: (Int64) -> UInt64?) -> UInt64 {
        switch config.deliverPolicy {
        case .all, .lastPerSubject: return firstSequence
        case .new: return lastSequence + 1
        case .last: return lastMatching() ?? lastSequence + 1
        case .byStartSequence: return max(config.optStartSeq ?? 1, firstSequence)
        case .byStartTime: return config.optStartTime.flatMap(firstAtOrAfterTime) ?? lastSequence + 1
        }
    }

    /// The reply subject of a delivery, on which the client acknowledges it.
    /// Written straight into the string's storage (one per delivery, so no interpolation).
    public static func ackSubject(stream: String, consumer: String, deliveries: Int, streamSequence: UInt64,
                                  consumerSequence: UInt64, timestamp: Int64, pending: UInt64) -> String {
        let capacity = 8 + stream.utf8.count + consumer.utf8.count + 6 * 21
        return String(unsafeUninitializedCapacity: capacity) { buffer in
            var at = 0
            func bytes(_ text: String) {
                for byte in text.utf8 { buffer[at] = byte; at += 1 }
            }
            func number(_ value: UInt64, dot: Bool = true) {
                if dot { buffer[at] = UInt8(ascii: "."); at += 1 }
                var digits = 1, rest = value / 10
                while rest > 0 { digits += 1; rest /= 10 }
                var v = value
                for i in stride(from: at + digits - 1, through: at, by: -1) {
                    buffer[i] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                at += digits
            }
            bytes("$JS.ACK.")
            bytes(stream)
            buffer[at] = UInt8(ascii: "."); at += 1
            bytes(consumer)
            number(UInt64(max(deliveries, 0)))
            number(streamSequence)
            number(consumerSequence)
            if timestamp < 0 {
                buffer[at] = UInt8(ascii: "."); at += 1
                buffer[at] = UInt8(ascii: "-"); at += 1
                number(timestamp.magnitude, dot: false)
            } else {
                number(UInt64(timestamp))
            }
            number(pending)
            return at
        }
    }
}
