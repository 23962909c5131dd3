import Foundation
import Testing
@testable import Consumers

/// A stream as the engine sees it: messages by sequence (some may be deleted), with a subject filter.
struct FakeStream {
    var messages: [UInt64: ConsumerEngine.Message] = [:]
    var filter: String?

    init(count: Int, subject: (UInt64) -> String = { _ in "orders.new" }) {
        for s in UInt64(1)..<UInt64(count + 1) { messages[s] = .init(sequence: s, subject: subject(s), size: 100, timestamp: Int64(s)) }
    }

    var lookup: ConsumerEngine.Lookup {
        let messages = self.messages, filter = self.filter
        return { start in
            guard let last = messages.keys.max(), start <= last else { return nil }
            for s in start...last {
                if let m = messages[s], filter.map({ f in f == ">" || m.subject == f || (f.hasSuffix(".>") && m.subject.hasPrefix(String(f.dropLast()))) }) ?? true {
                    return m
                }
            }
            return nil
        }
    }
}

func deliveries(_ actions: [ConsumerAction]) -> [Delivery] {
    actions.compactMap { if case .deliver(let d) = $0 { return d } else { return nil } }
}

func statuses(_ actions: [ConsumerAction]) -> [(String, Int, String)] {
    actions.compactMap { if case .status(let to, let code, let text) = $0 { return (to, code, text) } else { return nil } }
}

func explicitConfig(_ change: (inout ConsumerConfig) -> Void = { _ in }) -> ConsumerConfig {
    var config = ConsumerConfig()
    config.durableName = "d"
    config.ackPolicy = .explicit
    change(&config)
    return config
}

let second: Int64 = 1_000_000_000

@Suite struct ConsumerEngineTests {
    @Test func pullDeliversInOrderAndAcksMoveTheFloor() {
        let stream = FakeStream(count: 5)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig(), startSequence: 1)
        let sent = deliveries(engine.pull(PullRequest(id: 1, replyTo: "inbox.1", batch: 3), now: 0, lookup: stream.lookup))
        #expect(sent.map(\.streamSequence) == [1, 2, 3])
        #expect(sent.map(\.consumerSequence) == [1, 2, 3])
        #expect(sent.allSatisfy { $0.to == "inbox.1" && $0.deliveries == 1 && !$0.isRedelivery })
        #expect(engine.numAckPending == 3 && engine.numWaiting == 0)
        #expect(engine.state.delivered == .init(consumerSeq: 3, streamSeq: 3))
        // Out of order: acking 2 keeps the floor at 0; acking 1 moves it to 2.
        _ = engine.acknowledge(streamSequence: 2, .ack, now: 1, lookup: stream.lookup)
        #expect(engine.state.ackFloor == .init(consumerSeq: 0, streamSeq: 0))
        _ = engine.acknowledge(streamSequence: 1, .ack, now: 1, lookup: stream.lookup)
        #expect(engine.state.ackFloor == .init(consumerSeq: 2, streamSeq: 2))
        _ = engine.acknowledge(streamSequence: 3, .ack, now: 1, lookup: stream.lookup)
        #expect(engine.state.ackFloor == .init(consumerSeq: 3, streamSeq: 3) && engine.numAckPending == 0)
        // An ack for something not pending changes nothing.
        #expect(engine.acknowledge(streamSequence: 3, .ack, now: 1, lookup: stream.lookup).isEmpty)
    }

    @Test func ackAllAcknowledgesEverythingBelow() {
        let stream = FakeStream(count: 5)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.ackPolicy = .all }, startSequence: 1)
        _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 5), now: 0, lookup: stream.lookup)
        _ = engine.acknowledge(streamSequence: 4, .ack, now: 1, lookup: stream.lookup)
        #expect(engine.state.pending.keys.sorted() == [5])
        #expect(engine.state.ackFloor.streamSeq == 4)
    }

    /// Ack-all over a sparse filter (one message in 100 pending): what each ack removes is the pending set
    /// at or below it, in order, whether the engine walks the range (short) or scans the pending messages.
    @Test func ackAllOverSparsePendingRemovesExactlyWhatIsBelow() {
        var stream = FakeStream(count: 3000) { $0 % 100 == 0 ? "a" : "b" }
        stream.filter = "a"
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.ackPolicy = .all; $0.filterSubject = "a" }, startSequence: 1)
        _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 30), now: 0, lookup: stream.lookup)
        var model = Set((1...30).map { UInt64($0 * 100) })
        #expect(Set(engine.state.pending.keys) == model)
        for ack: UInt64 in [50, 250, 320, 301, 1999, 2000, 5000] {
            let removed = engine.acknowledge(streamSequence: ack, .ack, now: 1, lookup: stream.lookup).compactMap { action -> [UInt64]? in
                if case .acknowledged(let sequences) = action { return sequences } else { return nil }
            }.flatMap { $0 }
            let expected = model.filter { $0 <= ack }.sorted()
            model.subtract(expected)
            #expect(removed == expected, "ack \(ack)")
            #expect(Set(engine.state.pending.keys) == model, "ack \(ack)")
        }
    }

    @Test func ackNoneTracksNothing() {
        let stream = FakeStream(count: 3)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.ackPolicy = .none }, startSequence: 1)
        #expect(deliveries(engine.pull(PullRequest(id: 1, replyTo: "r", batch: 10, expires: second), now: 0, lookup: stream.lookup)).count == 3)
        #expect(engine.numAckPending == 0 && engine.state.ackFloor == engine.state.delivered)
        #expect(engine.acknowledge(streamSequence: 1, .ack, now: 0, lookup: stream.lookup).isEmpty)
    }

    @Test func ackWaitRedeliversWithCountsAndFlag() {
        let stream = FakeStream(count: 1)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.ackWait = 5 * second }, startSequence: 1)
        _ = engine.pull(PullRequest(id: 1, replyTo: "r1"), now: 0, lookup: stream.lookup)
        #expect(engine.nextDeadline == 5 * second)
        _ = engine.pull(PullRequest(id: 2, replyTo: "r2", expires: 60 * second), now: second, lookup: stream.lookup)
        #expect(deliveries(engine.tick(now: 5 * second - 1, lookup: stream.lookup)).isEmpty)
        let again = deliveries(engine.tick(now: 5 * second, lookup: stream.lookup))
        #expect(again.count == 1)
        #expect(again[0].to == "r2" && again[0].streamSequence == 1 && again[0].consumerSequence == 2 && again[0].deliveries == 2 && again[0].isRedelivery)
        #expect(engine.numRedelivered == 1)
        #expect(engine.state.delivered == .init(consumerSeq: 2, streamSeq: 1))
    }

    @Test func backoffSetsEachDeliverysDeadline() {
        let stream = FakeStream(count: 1)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.backoff = [1 * second, 3 * second] }, startSequence: 1)
        var now: Int64 = 0
        _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 1), now: now, lookup: stream.lookup)
        var deadlines: [Int64] = []
        for i in 2...4 {
            deadlines.append(engine.nextDeadline! - now)
            now = engine.nextDeadline!
            _ = engine.pull(PullRequest(id: UInt64(i), replyTo: "r", batch: 1, expires: 100 * second), now: now, lookup: stream.lookup)
            #expect(deliveries(engine.tick(now: now, lookup: stream.lookup)).first?.deliveries == i)
        }
        #expect(deadlines == [1 * second, 3 * second, 3 * second])  // the last entry repeats
    }

    @Test func maxDeliverStopsWithAnAdvisory() {
        let stream = FakeStream(count: 2)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.ackWait = second; $0.maxDeliver = 2 }, startSequence: 1)
        _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 1), now: 0, lookup: stream.lookup)
        _ = engine.pull(PullRequest(id: 2, replyTo: "r", batch: 1, expires: 100 * second), now: 0, lookup: stream.lookup)
        // Sequence 1 and 2 are out; 1 is redelivered once, then given up.
        _ = engine.pull(PullRequest(id: 3, replyTo: "r", batch: 2, expires: 100 * second), now: 0, lookup: stream.lookup)
        let second1 = engine.tick(now: second, lookup: stream.lookup)
        #expect(deliveries(second1).map(\.deliveries) == [2, 2])
        let final = engine.tick(now: 2 * second, lookup: stream.lookup)
        #expect(final.contains(.maxDeliveriesReached(streamSequence: 1, deliveries: 2)))
        #expect(final.contains(.maxDeliveriesReached(streamSequence: 2, deliveries: 2)))
        #expect(engine.numAckPending == 0 && engine.state.ackFloor.streamSeq == 2)
        #expect(engine.nextDeadline == nil)
    }

    @Test func nakRedeliversNowOrAfterItsDelay() {
        let stream = FakeStream(count: 2)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig(), startSequence: 1)
        _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 2), now: 0, lookup: stream.lookup)
        _ = engine.pull(PullRequest(id: 2, replyTo: "w", batch: 5, expires: 100 * second), now: 0, lookup: stream.lookup)
        let now = deliveries(engine.acknowledge(streamSequence: 2, .nak(delay: nil), now: second, lookup: stream.lookup))
        #expect(now.map(\.streamSequence) == [2] && now[0].deliveries == 2)
        #expect(deliveries(engine.acknowledge(streamSequence: 1, .nak(delay: 10 * second), now: second, lookup: stream.lookup)).isEmpty)
        #expect(engine.nextDeadline == 11 * second)
        #expect(deliveries(engine.tick(now: 11 * second, lookup: stream.lookup)).map(\.streamSequence) == [1])
    }

    @Test func inProgressResetsTheTimerAndTermStopsRedelivery() {
        let stream = FakeStream(count: 2)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.ackWait = 10 * second }, startSequence: 1)
        _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 2), now: 0, lookup: stream.lookup)
        _ = engine.acknowledge(streamSequence: 1, .inProgress, now: 8 * second, lookup: stream.lookup)
        #expect(engine.state.pending[1]?.deadline == 18 * second)
        _ = engine.acknowledge(streamSequence: 2, .term, now: 8 * second, lookup: stream.lookup)
        #expect(engine.state.pending[2] == nil)
        _ = engine.pull(PullRequest(id: 2, replyTo: "w", batch: 5, expires: 100 * second), now: 9 * second, lookup: stream.lookup)
        #expect(deliveries(engine.tick(now: 12 * second, lookup: stream.lookup)).isEmpty)
        #expect(deliveries(engine.tick(now: 18 * second, lookup: stream.lookup)).map(\.streamSequence) == [1])
    }

    @Test func maxAckPendingHoldsNewDeliveries() {
        let stream = FakeStream(count: 5)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.maxAckPending = 2 }, startSequence: 1)
        #expect(deliveries(engine.pull(PullRequest(id: 1, replyTo: "r", batch: 5, expires: 100 * second), now: 0, lookup: stream.lookup)).map(\.streamSequence) == [1, 2])
        #expect(engine.numWaiting == 1)
        #expect(deliveries(engine.acknowledge(streamSequence: 1, .ack, now: 1, lookup: stream.lookup)).map(\.streamSequence) == [3])
    }

    @Test func noWaitWithExpiresWaitsLikeTheReference() {
        // nats-server 2.9: no_wait with expires on an empty consumer waits; the first messages end it (408,
        // with what it still wanted); left alone it expires with 408.
        var stream = FakeStream(count: 0)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig(), startSequence: 1)
        #expect(engine.pull(PullRequest(id: 1, replyTo: "a", batch: 5, expires: 10 * second, noWait: true), now: 0, lookup: stream.lookup).isEmpty)
        #expect(engine.numWaiting == 1)
        stream = FakeStream(count: 1)
        let served = engine.tick(now: 1, lookup: stream.lookup)
        #expect(deliveries(served).map(\.streamSequence) == [1])
        #expect(served.last == .requestExpired(to: "a", pendingMessages: 4, pendingBytes: 0) && engine.numWaiting == 0)
        #expect(engine.pull(PullRequest(id: 2, replyTo: "b", batch: 5, expires: 10 * second, noWait: true), now: 2, lookup: stream.lookup).isEmpty)
        #expect(engine.tick(now: 10 * second + 2, lookup: stream.lookup) == [.requestExpired(to: "b", pendingMessages: 5, pendingBytes: 0)])
    }

    @Test func pullStatuses() {
        let stream = FakeStream(count: 2)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.maxWaiting = 1 }, startSequence: 1)
        // no_wait: all there is, then 408 when partly served; 404 when nothing.
        let partial = engine.pull(PullRequest(id: 1, replyTo: "a", batch: 5, noWait: true), now: 0, lookup: stream.lookup)
        #expect(deliveries(partial).count == 2)
        #expect(partial.last == .requestExpired(to: "a", pendingMessages: 3, pendingBytes: 0))
        let none = engine.pull(PullRequest(id: 2, replyTo: "b", noWait: true), now: 0, lookup: stream.lookup)
        #expect(statuses(none).map { "\($0.0) \($0.1) \($0.2)" } == ["b 404 No Messages"])
        // Waiting requests: one allowed; the second is refused; the first expires with 408.
        #expect(engine.pull(PullRequest(id: 3, replyTo: "c", expires: 5 * second), now: 0, lookup: stream.lookup).isEmpty)
        #expect(statuses(engine.pull(PullRequest(id: 4, replyTo: "d"), now: 0, lookup: stream.lookup)).map(\.1) == [409])
        #expect(engine.nextDeadline == 5 * second)
        #expect(engine.tick(now: 5 * second, lookup: stream.lookup) == [.requestExpired(to: "c", pendingMessages: 1, pendingBytes: 0)])
        #expect(engine.numWaiting == 0)
    }

    @Test func pullIdleHeartbeatsWhileARequestWaits() {
        var stream = FakeStream(count: 1)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig(), startSequence: 2)
        _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 2, expires: 10 * second, maxBytes: 1000, idleHeartbeat: 2 * second),
                        now: 0, lookup: stream.lookup)
        #expect(engine.nextDeadline == 2 * second)
        #expect(engine.tick(now: 2 * second, lookup: stream.lookup) == [.idleHeartbeat(to: "r")])
        #expect(engine.nextDeadline == 4 * second)
        // A delivery counts as activity: the next heartbeat is due 2 s after it.
        stream.messages[2] = .init(sequence: 2, subject: "orders.new", size: 100, timestamp: 2)
        #expect(deliveries(engine.tick(now: 3 * second, lookup: stream.lookup)).map(\.streamSequence) == [2])
        #expect(engine.tick(now: 4 * second, lookup: stream.lookup).isEmpty)
        #expect(engine.tick(now: 5 * second, lookup: stream.lookup) == [.idleHeartbeat(to: "r")])
        // Expiry says what the request still wanted.
        #expect(engine.tick(now: 10 * second, lookup: stream.lookup) == [.requestExpired(to: "r", pendingMessages: 1, pendingBytes: 900)])
        #expect(engine.nextDeadline == 3 * second + 30 * second)  // only the ack wait of message 2 is left
    }

    @Test func rateLimitSpacesPushDeliveries() {
        let stream = FakeStream(count: 3)  // 100 bytes each: 800 bits
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.rateLimit = 800; $0.deliverSubject = "p" },
                                    startSequence: 1)
        engine.pushActive = true
        #expect(deliveries(engine.tick(now: 0, lookup: stream.lookup)).map(\.streamSequence) == [1])
        #expect(engine.nextDeadline == second)
        #expect(deliveries(engine.tick(now: second / 2, lookup: stream.lookup)).isEmpty)
        #expect(deliveries(engine.tick(now: second, lookup: stream.lookup)).map(\.streamSequence) == [2])
        // A NAKed message waits its turn too, and comes before new ones.
        _ = engine.acknowledge(streamSequence: 1, .nak(delay: nil), now: second + 1, lookup: stream.lookup)
        #expect(deliveries(engine.tick(now: 2 * second, lookup: stream.lookup)).map(\.streamSequence) == [1])
        #expect(deliveries(engine.tick(now: 3 * second, lookup: stream.lookup)).map(\.streamSequence) == [3])
    }

    /// Flow control's window: one step of a push consumer sends at most its byte budget (at least one
    /// message), and the next step goes on from there.
    @Test func aPushByteBudgetBoundsOneStep() {
        let stream = FakeStream(count: 10)  // 100 bytes each
        var config = ConsumerConfig()
        config.deliverSubject = "p"
        config.ackPolicy = .none
        var engine = ConsumerEngine(stream: "S", name: "e", config: config, startSequence: 1)
        engine.pushActive = true
        engine.pushByteBudget = 250
        #expect(deliveries(engine.tick(now: 0, lookup: stream.lookup)).map(\.streamSequence) == [1, 2, 3])
        #expect(engine.stoppedAtBudget)  // the owner paces the next step
        engine.pushByteBudget = 1
        #expect(deliveries(engine.tick(now: 1, lookup: stream.lookup)).map(\.streamSequence) == [4])
        #expect(engine.stoppedAtBudget)
        engine.pushByteBudget = nil
        #expect(deliveries(engine.tick(now: 2, lookup: stream.lookup)).map(\.streamSequence) == Array(5...10))
        #expect(!engine.stoppedAtBudget)  // it ran out of messages
        engine.pushByteBudget = 1_000
        #expect(deliveries(engine.tick(now: 3, lookup: stream.lookup)).isEmpty)
        #expect(!engine.stoppedAtBudget)
    }

    @Test func replayOriginalKeepsTheStoredSpacing() {
        var stream = FakeStream(count: 3)
        for (sequence, at) in [(1, 10 * second), (2, 13 * second), (3, 13 * second)] {
            stream.messages[UInt64(sequence)]!.timestamp = Int64(at)
        }
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.replayPolicy = .original; $0.deliverSubject = "p" },
                                    startSequence: 1)
        engine.pushActive = true
        // The first goes at once; the second 3 s later (as stored); the third with it (same instant).
        #expect(deliveries(engine.tick(now: 100 * second, lookup: stream.lookup)).map(\.streamSequence) == [1])
        #expect(engine.nextDeadline == 103 * second)
        #expect(deliveries(engine.tick(now: 102 * second, lookup: stream.lookup)).isEmpty)
        #expect(deliveries(engine.tick(now: 103 * second, lookup: stream.lookup)).map(\.streamSequence) == [2, 3])
    }

    @Test func maxBytesEndsARequestWithA409WhenAMessageCannotFit() {
        let stream = FakeStream(count: 3)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig(), startSequence: 1)
        let small = engine.pull(PullRequest(id: 1, replyTo: "a", batch: 10, maxBytes: 250), now: 0, lookup: stream.lookup)
        #expect(deliveries(small).count == 2)  // 100 + 100, the third would pass 250
        #expect(statuses(small).map(\.1) == [409])
        #expect(engine.numAckPending == 2)
        let tiny = engine.pull(PullRequest(id: 2, replyTo: "b", batch: 1, maxBytes: 50), now: 0, lookup: stream.lookup)
        #expect(statuses(tiny).map { "\($0.1) \($0.2)" } == ["409 Message Size Exceeds MaxBytes"])
    }

    @Test func pushDeliversOnlyWhileThereIsInterest() {
        let stream = FakeStream(count: 3)
        var engine = ConsumerEngine(stream: "S", name: "p", config: explicitConfig { $0.deliverSubject = "push.inbox" }, startSequence: 1)
        #expect(deliveries(engine.tick(now: 0, lookup: stream.lookup)).isEmpty)
        engine.pushActive = true
        let sent = deliveries(engine.tick(now: 0, lookup: stream.lookup))
        #expect(sent.map(\.streamSequence) == [1, 2, 3] && sent.allSatisfy { $0.to == "push.inbox" })
    }

    @Test func filteredAndDeletedMessages() {
        var stream = FakeStream(count: 6) { $0 % 2 == 0 ? "orders.eu" : "orders.us" }
        stream.filter = "orders.eu"
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.filterSubject = "orders.eu"; $0.ackWait = second }, startSequence: 1)
        let sent = deliveries(engine.pull(PullRequest(id: 1, replyTo: "r", batch: 10, expires: 100 * second), now: 0, lookup: stream.lookup))
        #expect(sent.map(\.streamSequence) == [2, 4, 6])
        // Message 4 is deleted from the stream before its redelivery: it is dropped, not redelivered.
        stream.messages[4] = nil
        _ = engine.pull(PullRequest(id: 2, replyTo: "r", batch: 10, expires: 100 * second), now: 0, lookup: stream.lookup)
        #expect(deliveries(engine.tick(now: second, lookup: stream.lookup)).map(\.streamSequence) == [2, 6])
        #expect(engine.state.pending.keys.sorted() == [2, 6])
    }

    @Test func restartResumesExactly() throws {
        let stream = FakeStream(count: 5)
        var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.ackWait = 10 * second }, startSequence: 1)
        _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 3), now: 0, lookup: stream.lookup)
        _ = engine.acknowledge(streamSequence: 1, .ack, now: 1, lookup: stream.lookup)
        _ = engine.acknowledge(streamSequence: 3, .ack, now: 1, lookup: stream.lookup)
        let saved = StoredConsumerState(created: 42, state: engine.state).encoded()
        // A new process: the state comes back from storage.
        let restored = try #require(StoredConsumerState(decoding: saved))
        #expect(restored.created == 42)
        var resumed = ConsumerEngine(stream: "S", name: "d", config: engine.config, startSequence: 1, state: restored.state)
        #expect(resumed.state == engine.state)
        // New messages continue after 3; 2 (unacked) comes back after its ack wait; 1 and 3 never do.
        let next = deliveries(resumed.pull(PullRequest(id: 2, replyTo: "r", batch: 10, expires: 100 * second), now: 2, lookup: stream.lookup))
        #expect(next.map(\.streamSequence) == [4, 5])
        _ = resumed.pull(PullRequest(id: 3, replyTo: "r", batch: 10, expires: 100 * second), now: 2, lookup: stream.lookup)
        let redelivered = deliveries(resumed.tick(now: 10 * second, lookup: stream.lookup))
        #expect(redelivered.map(\.streamSequence) == [2] && redelivered[0].deliveries == 2)
    }

    @Test func storedStateRoundTripsEveryFieldAndRefusesDamage() throws {
        var state = ConsumerState()
        state.delivered = .init(consumerSeq: 900, streamSeq: 1 << 50)
        state.ackFloor = .init(consumerSeq: 3, streamSeq: 4)
        state.pending = [5: .init(consumerSeq: 4, deliveredAt: -7, deliveries: 3, deadline: .max),
                         1 << 50: .init(consumerSeq: 900, deliveredAt: 1_700_000_000 * second, deliveries: 1, deadline: 0)]
        state.redeliveryQueue = [5]
        state.initialSequences = [2, 3]
        let stored = StoredConsumerState(created: -1, state: state)
        let bytes = stored.encoded()
        #expect(StoredConsumerState(decoding: bytes) == stored)
        for length in 0..<bytes.count { #expect(StoredConsumerState(decoding: Array(bytes.prefix(length))) == nil) }
        #expect(StoredConsumerState(decoding: bytes + [0]) == nil)
        // The JSON written by earlier versions still reads.
        struct Legacy: Encodable { var created: Int64; var state: ConsumerState }
        #expect(StoredConsumerState(decoding: Array(try JSONEncoder().encode(Legacy(created: -1, state: state)))) == stored)
    }

    @Test func ackFloorAndDeadlinesStayExactAcrossGapsAndOutOfOrderAcks() {
        // Every 50th message matches the filter: the floor must jump the gaps.
        var stream = FakeStream(count: 1000) { $0 % 50 == 0 ? "orders.new" : "orders.old" }
        stream.filter = "orders.new"
        var config = explicitConfig { $0.ackWait = 10 * second; $0.filterSubject = "orders.new" }
        config.maxAckPending = 100
        var engine = ConsumerEngine(stream: "S", name: "d", config: config, startSequence: 1)
        let sent = deliveries(engine.pull(PullRequest(id: 1, replyTo: "r", batch: 20), now: 0, lookup: stream.lookup))
        #expect(sent.map(\.streamSequence) == (1...20).map { UInt64($0 * 50) })
        #expect(engine.nextDeadline == 10 * second)
        // Acks in reverse: the floor stays below the oldest pending until it is acked, then jumps to just
        // below the next pending.
        for s in stride(from: 1000, through: 150, by: -50) { _ = engine.acknowledge(streamSequence: UInt64(s), .ack, now: 1, lookup: stream.lookup) }
        #expect(engine.state.ackFloor == .init(consumerSeq: 0, streamSeq: 49))
        _ = engine.acknowledge(streamSequence: 50, .ack, now: 1, lookup: stream.lookup)
        #expect(engine.state.ackFloor == .init(consumerSeq: 1, streamSeq: 99))
        // A NAK with a delay earlier than the ack wait brings the next deadline forward.
        _ = engine.acknowledge(streamSequence: 100, .nak(delay: 2 * second), now: 1, lookup: stream.lookup)
        #expect(engine.nextDeadline == 1 + 2 * second)
        #expect(deliveries(engine.tick(now: 2 * second, lookup: stream.lookup)).isEmpty)
        _ = engine.pull(PullRequest(id: 2, replyTo: "r", batch: 1, expires: 60 * second), now: 2 * second, lookup: stream.lookup)
        #expect(deliveries(engine.tick(now: 1 + 2 * second, lookup: stream.lookup)).map(\.streamSequence) == [100])
        _ = engine.acknowledge(streamSequence: 100, .ack, now: 3 * second, lookup: stream.lookup)
        #expect(engine.state.ackFloor == engine.state.delivered && engine.numAckPending == 0)
    }

    @Test func startSequenceForEachDeliverPolicy() {
        func start(_ policy: ConsumerConfig.DeliverPolicy, _ change: (inout ConsumerConfig) -> Void = { _ in }) -> UInt64 {
            var config = ConsumerConfig()
            config.deliverPolicy = policy
            change(&config)
            return ConsumerEngine.startSequence(for: config, firstSequence: 10, lastSequence: 50,
                                                lastMatching: { 42 }, firstAtOrAfterTime: { $0 >= 100 ? 30 : nil })
        }
        #expect(start(.all) == 10)
        #expect(start(.new) == 51)
        #expect(start(.last) == 42)
        #expect(start(.lastPerSubject) == 10)
        #expect(start(.byStartSequence) { $0.optStartSeq = 20 } == 20)
        #expect(start(.byStartSequence) { $0.optStartSeq = 3 } == 10)
        #expect(start(.byStartTime) { $0.optStartTime = 100 } == 30)
        #expect(start(.byStartTime) { $0.optStartTime = 1 } == 51)
    }

    @Test func ackBodiesAndSubjects() {
        #expect(AckKind.parse("") == .ack)
        #expect(AckKind.parse("+ACK") == .ack)
        #expect(AckKind.parse("+NXT") == .ack)
        #expect(AckKind.parse("+WPI") == .inProgress)
        #expect(AckKind.parse("+TERM") == .term)
        #expect(AckKind.parse("-NAK") == .nak(delay: nil))
        #expect(AckKind.parse(#"-NAK {"delay":5000000000}"#) == .nak(delay: 5_000_000_000))
        #expect(AckKind.parse("bogus") == nil)
        #expect(ConsumerEngine.ackSubject(stream: "S", consumer: "d", deliveries: 2, streamSequence: 7, consumerSequence: 9,
                                          timestamp: 123, pending: 4) == "$JS.ACK.S.d.2.7.9.123.4")
        // Every width of number, the extremes, a negative time and non-ASCII names, as interpolation writes them.
        for (n, t) in [(0, Int64(0)), (9, 10), (10, -1), (99_999, .min), (Int.max, .max)] {
            let wide = UInt64.max - UInt64(n)
            #expect(ConsumerEngine.ackSubject(stream: "流", consumer: "c-1", deliveries: n, streamSequence: wide, consumerSequence: UInt64(n),
                                              timestamp: t, pending: wide)
                    == "$JS.ACK.流.c-1.\(n).\(wide).\(n).\(t).\(wide)")
        }
    }

    @Test func configDecodesTheAPIsJSONWithReferenceDefaults() throws {
        let config = try JSONDecoder().decode(ConsumerConfig.self, from: Data(#"{"durable_name":"d","ack_policy":"explicit"}"#.utf8))
        #expect(config.durableName == "d" && config.ackPolicy == .explicit && config.deliverPolicy == .all)
        #expect(config.ackWait == 30_000_000_000 && config.maxDeliver == -1 && config.maxAckPending == 1000 && config.maxWaiting == 512)
        #expect(config.replayPolicy == .instant)
    }

    @Test func lastPerSubjectDeliversEachSubjectsLastThenNewMessages() {
        var stream = FakeStream(count: 5) { $0 % 2 == 0 ? "k.b" : "k.a" }  // a1 b2 a3 b4 a5
        var engine = ConsumerEngine(stream: "S", name: "w", config: explicitConfig { $0.ackPolicy = .none }, startSequence: 6,
                                    initialSequences: [4, 5])
        let first = deliveries(engine.pull(PullRequest(id: 1, replyTo: "r", batch: 10, expires: 10 * second), now: 0, lookup: stream.lookup))
        #expect(first.map(\.streamSequence) == [4, 5])
        #expect(first.map(\.remainingInitial) == [1, 0])
        #expect(engine.state.delivered.streamSeq == 5)
        stream.messages[6] = .init(sequence: 6, subject: "k.a", size: 10, timestamp: 6)
        #expect(deliveries(engine.tick(now: 1, lookup: stream.lookup)).map(\.streamSequence) == [6])
        // An initial message deleted before its turn is skipped.
        var other = ConsumerEngine(stream: "S", name: "x", config: explicitConfig { $0.ackPolicy = .none }, startSequence: 7,
                                   initialSequences: [2, 6])
        stream.messages[2] = nil
        #expect(deliveries(other.pull(PullRequest(id: 2, replyTo: "r", batch: 10, noWait: true), now: 0, lookup: stream.lookup)).map(\.streamSequence) == [6])
    }

    /// `sample_freq`: that share of explicit acks, spread evenly, each with the delivery's sequences, count and
    /// the time from delivery to ack; none for ack-all, none without it.
    @Test func sampleFrequencyPicksThatShareOfExplicitAcks() {
        func samples(_ frequency: String?, policy: ConsumerConfig.AckPolicy = .explicit) -> [(UInt64, UInt64, Int, Int64)] {
            let stream = FakeStream(count: 10)
            var engine = ConsumerEngine(stream: "S", name: "d", config: explicitConfig { $0.sampleFrequency = frequency; $0.ackPolicy = policy },
                                        startSequence: 1)
            _ = engine.pull(PullRequest(id: 1, replyTo: "r", batch: 10), now: 100, lookup: stream.lookup)
            return (1...10).flatMap { sequence in
                engine.acknowledge(streamSequence: UInt64(sequence), .ack, now: 100 + Int64(sequence), lookup: stream.lookup).compactMap {
                    if case .ackSampled(let s, let c, let d, let t) = $0 { return (s, c, d, t) } else { return nil }
                }
            }
        }
        let all = samples("100%")
        #expect(all.map(\.0) == Array(1...10) && all.map(\.1) == Array(1...10) && all.allSatisfy { $0.2 == 1 })
        #expect(all.map(\.3) == (1...10).map { Int64($0) })
        #expect(samples("50").map(\.0) == [2, 4, 6, 8, 10])
        #expect(samples("30%").count == 3)
        #expect(samples("250%").count == 10)
        #expect(samples(nil).isEmpty && samples("0").isEmpty)
        #expect(samples("100", policy: .all).isEmpty)
    }
}
