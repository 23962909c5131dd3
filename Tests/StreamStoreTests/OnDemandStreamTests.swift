import Foundation
import Testing
@testable import StreamStore

/// File streams opened on demand under a budget of open streams (Specs/StoreLayout.md, "Open streams"):
/// idle streams beyond the budget are closed, and every read and write opens them again with nothing lost.
@Suite struct OnDemandStreamTests {
    /// Waits on a Dispatch thread, not on one of the tests' cooperative threads (a blocked cooperative
    /// thread delays every other test's continuations, for seconds on two cores).
    static func waitUntil(_ budget: OpenStreamBudget, _ predicate: @escaping @Sendable () -> Bool) async -> Bool {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: budget.waitUntil(seconds: 30, predicate)) }
        }
    }

    static func record(_ name: String, delivered: UInt64) -> ConsumerRecord {
        ConsumerRecord(name: name, deliveredStreamSequence: delivered, ackFloorStreamSequence: 0, pendingSequences: [],
                       config: Data("{}".utf8), state: Data([1, 2, 3]))
    }

    @Test func idleStreamsBeyondTheBudgetAreClosedAndReopenWithEverything() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let budget = OpenStreamBudget(maxOpen: 2)
        defer { budget.stop() }
        var streams: [OnDemandFileStream] = []
        for i in 0..<6 {
            let stream = try OnDemandFileStream.create(at: directory.stream("s\(i)"), config: StreamConfig(name: "s\(i)"), budget: budget)
            let results = await stream.append(contentsOf: (0..<10).map { request("s\(i).\($0 % 3)", "m\($0)") })
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            try stream.saveConsumer(Self.record("C\(i)", delivered: 4))
            streams.append(stream)
        }
        #expect(await Self.waitUntil(budget) { budget.openCount <= 2 }, "open: \(budget.openCount)")
        #expect(streams.filter(\.isOpen).count <= 2)
        #expect(budget.closedCount >= 4)

        for (i, stream) in streams.enumerated() {
            // Answered while closed, from what the close left.
            #expect(stream.state.messages == 10 && stream.state.lastSequence == 10 && stream.state.subjects == 3)
            #expect(stream.currentConfig.name == "s\(i)")
            // A read opens it again and finds every message.
            let messages = try stream.messages(from: 1, filter: nil, limit: 100)
            #expect(messages.map(\.text) == (0..<10).map { "m\($0)" })
            #expect(try stream.count(filter: "s\(i).1", in: 1...10) == 3)
            #expect(try stream.consumers().map(\.name) == ["C\(i)"])
            let appended = try await stream.append(request("s\(i).0", "after"))
            #expect(appended.sequence == 11)
        }
        #expect(streams.reduce(0) { $0 + $1.reopenCount } >= 4)
        #expect(await Self.waitUntil(budget) { budget.openCount <= 2 })
        for stream in streams { stream.close() }

        // Closed by the budget or by close(), each stream opens clean with all it held.
        for i in 0..<6 {
            let reopened = try FileStream(directory: directory.stream("s\(i)"))
            #expect(reopened.recovery.isClean)
            #expect(reopened.state.messages == 11)
            #expect(try reopened.consumers().first?.deliveredStreamSequence == 4)
            reopened.close()
        }
    }

    /// Appends and reads from several tasks against streams that the budget keeps closing (a budget of one
    /// for four streams): every append is acknowledged once and stored once, in order per stream.
    @Test func concurrentUseWhileTheBudgetClosesStreams() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let budget = OpenStreamBudget(maxOpen: 1)
        defer { budget.stop() }
        let streams = try (0..<4).map {
            try OnDemandFileStream.create(at: directory.stream("c\($0)"), config: StreamConfig(name: "c\($0)"), budget: budget)
        }
        let perStream = 150
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, stream) in streams.enumerated() {
                group.addTask {
                    for n in 0..<perStream {
                        let result = try await stream.append(request("c.\(i)", "\(n)"))
                        #expect(result.sequence == UInt64(n + 1))
                        if n % 10 == 0 { _ = try stream.last(subject: "c.\(i)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(budget.closedCount > 0, "the budget closed no stream: the test did not exercise reopening")
        for (i, stream) in streams.enumerated() {
            let all = try stream.messages(from: 1, filter: nil, limit: 1_000)
            #expect(all.map(\.text) == (0..<perStream).map { "\($0)" }, "stream c\(i)")
            stream.close()
        }
    }

    /// A closed stream with `max_age` is opened again when its oldest message expires, and its writer
    /// removes what expired, as an open stream's would.
    @Test func aClosedStreamStillExpiresItsMessages() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let budget = OpenStreamBudget(maxOpen: 1)
        defer { budget.stop() }
        var config = StreamConfig(name: "aged")
        config.maxAge = 3_000_000_000  // 3 s: closed well before its message expires
        // The close must come before the expiry: on a machine too slow for that (a parallel test run that floods
        // the disk), the scenario is set up again in a new stream, at most three times.
        var aged: OnDemandFileStream?
        for attempt in 0..<3 where aged == nil {
            let candidate = try OnDemandFileStream.create(at: directory.stream("aged\(attempt)"), config: config, budget: budget)
            _ = try await candidate.append(request("a", "old"))
            // As the budget's thread closes the least recently used idle stream (the writer publishes that it is
            // idle at the end of a pass: each sync makes one more).
            var closed = false
            for _ in 0..<100 where !closed {
                try await candidate.sync()
                closed = candidate.closeIfIdle()
            }
            if closed && candidate.state.messages == 1 { aged = candidate } else { candidate.close() }
        }
        let closed = try #require(aged, "the stream could not be closed before its message expired")
        #expect(!closed.isOpen)
        // Nothing touches it: the budget's wake-up alone opens it, and the writer's first pass expires the
        // message (two syncs queue behind that pass).
        #expect(await Self.waitUntil(budget) { closed.reopenCount >= 1 })
        try await closed.sync()
        try await closed.sync()
        #expect(closed.state.messages == 0)
        closed.close()
    }

    /// An operation after close() fails as a closed FileStream's does.
    @Test func aClosedStreamRefusesWork() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let budget = OpenStreamBudget(maxOpen: 4)
        let stream = try OnDemandFileStream.create(at: directory.stream(), config: StreamConfig(name: "s"), budget: budget)
        _ = try await stream.append(request("a", "1"))
        stream.close()
        func isClosed(_ error: any Error) -> Bool { if case StoreError.closed = error { true } else { false } }
        await #expect { try await stream.append(request("a", "2")) } throws: { isClosed($0) }
        #expect { try stream.message(sequence: 1) } throws: { isClosed($0) }
        #expect(stream.state.messages == 1)
        #expect(budget.openCount == 0)
    }
}
