import Foundation
import Testing
import Subjects
@testable import StreamStore

/// Behaviour every store must share, run against file streams (compressed and not) and memory streams.
@Suite struct MessageStoreTests {
    @Test(arguments: StoreKind.allCases)
    func appendAndReadBack(kind: StoreKind) async throws {
        let f = try StoreFixture(kind)
        for i in 1...10 {
            let result = try await f.store.append(request("orders.\(i % 3)", "payload-\(i)", headers: i == 5 ? "NATS/1.0\r\nA: b\r\n\r\n" : ""))
            #expect(result.sequence == UInt64(i))
            #expect(result.timestamp == f.clock.now)
            #expect(!result.duplicate)
        }
        let five = try #require(try f.store.message(sequence: 5))
        #expect(five.subject == "orders.2" && five.text == "payload-5")
        #expect(String(decoding: five.headers, as: UTF8.self) == "NATS/1.0\r\nA: b\r\n\r\n")
        #expect(try f.store.message(sequence: 11) == nil)
        #expect(try f.store.message(sequence: 0) == nil)
        let state = f.store.state
        #expect(state.messages == 10 && state.firstSequence == 1 && state.lastSequence == 10 && state.subjects == 3)
        #expect(state.bytes == (1...10).reduce(0) { $0 + kind.accountedSize(subject: 8, headers: $1 == 5 ? 18 : 0, payload: "payload-\($1)".utf8.count) })
    }

    /// Batched filtered reads equal a model's answer (every held message in order, filtered), over the
    /// three ways a file stream finds them: one subject's sequences, a merge of a few subjects' (≤ 64), a
    /// walk of the sequence index (more subjects), with removals in between and every batch size.
    @Test(arguments: StoreKind.allCases)
    func batchedFilteredReadsEqualTheModel(kind: StoreKind) async throws {
        let f = try StoreFixture(kind)
        var subjects: [UInt64: String] = [:]
        var requests: [AppendRequest] = []
        for i in 0..<900 {
            let subject = "t.\(i % 3).\((i * 7) % 100)"
            subjects[UInt64(i + 1)] = subject
            requests.append(request(subject, "\(i)"))
        }
        let results: [Result<AppendResult, StoreError>] = await withCheckedContinuation { done in
            f.store.append(contentsOf: requests) { done.resume(returning: $0) }
        }
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        for s in stride(from: UInt64(5), through: 900, by: 11) {
            #expect(try await f.store.delete(sequence: s))
            subjects[s] = nil
        }
        let held = subjects.keys.sorted()
        // literal; wildcards over 10, 34 and 100 subjects; one over 300 (> 64: the walk); all.
        let filters: [String?] = ["t.1.7", "t.*.1", "t.0.*", "t.*.7", "t.*.*", ">", nil, "t.2.>", "u.*"]
        for filter in filters {
            for from in [UInt64(1), 5, 6, 450, 899, 901] {
                for limit in [1, 3, 64, 1000] {
                    let expected = held.filter { s in s >= from && (filter.map { Subject.matches(subjects[s]!, filter: $0) } ?? true) }.prefix(limit)
                    let got = try f.store.messages(from: from, filter: filter, limit: limit)
                    #expect(got.map(\.sequence) == Array(expected), "filter \(filter ?? "nil") from \(from) limit \(limit)")
                    #expect(got.allSatisfy { subjects[$0.sequence] == $0.subject })
                    #expect(try f.store.next(atOrAfter: from, filter: filter)?.sequence == expected.first)
                }
            }
        }
        // The wildcard's matching subjects change: a new subject is found, one that left is not.
        #expect(try f.store.count(filter: "t.*.7", atOrAfter: 1) == UInt64(held.filter { subjects[$0]!.hasSuffix(".7") }.count))
        let added = try await f.store.append(request("t.9.7", "new"))
        #expect(try f.store.messages(from: 890, filter: "t.*.7", limit: 100).last?.sequence == added.sequence)
        #expect(try f.store.count(filter: "t.*.7", in: added.sequence...added.sequence) == 1)
        #expect(try await f.store.delete(sequence: added.sequence))
        #expect(try f.store.count(filter: "t.*.7", in: added.sequence...added.sequence) == 0)
        #expect(try f.store.next(atOrAfter: added.sequence, filter: "t.*.7") == nil)
        let again = try await f.store.append(request("t.9.7", "again"))
        #expect(try f.store.next(atOrAfter: added.sequence, filter: "t.*.7")?.sequence == again.sequence)
        #expect(try f.store.count(filter: "t.9.*", atOrAfter: 1) == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func filteredReads(kind: StoreKind) async throws {
        let f = try StoreFixture(kind)
        let subjects = ["a.x.1", "a.y.1", "b.x.1", "a.x.2", "b.y.2", "a.y.2"]
        for (i, s) in subjects.enumerated() { _ = try await f.store.append(request(s, "\(i + 1)")) }
        #expect(try f.store.next(atOrAfter: 1, filter: "b.>")?.sequence == 3)
        #expect(try f.store.next(atOrAfter: 4, filter: "b.>")?.sequence == 5)
        #expect(try f.store.next(atOrAfter: 6, filter: "b.>") == nil)
        #expect(try f.store.next(atOrAfter: 2, filter: "a.x.*")?.sequence == 4)
        #expect(try f.store.next(atOrAfter: 1, filter: "*.y.2")?.sequence == 5)
        #expect(try f.store.next(atOrAfter: 1, filter: "a.x.1")?.sequence == 1)
        #expect(try f.store.next(atOrAfter: 2, filter: "a.x.1") == nil)
        #expect(try f.store.next(atOrAfter: 3, filter: nil)?.sequence == 3)
        #expect(try f.store.messages(from: 1, filter: "a.>", limit: 10).map(\.sequence) == [1, 2, 4, 6])
        #expect(try f.store.messages(from: 2, filter: nil, limit: 3).map(\.sequence) == [2, 3, 4])
        #expect(try f.store.last(subject: "a.x.1")?.sequence == 1)
        #expect(try f.store.last(subject: "a.>")?.sequence == 6)
        #expect(try f.store.last(subject: "c") == nil)
        #expect(try f.store.subjectCounts(filter: "a.>") == ["a.x.1": 1, "a.y.1": 1, "a.x.2": 1, "a.y.2": 1])
        #expect(try f.store.subjectCounts(filter: nil).count == 6)
        #expect(try f.store.count(filter: "a.>", atOrAfter: 3) == 2)
        #expect(try f.store.count(filter: nil, atOrAfter: 3) == 4)
        // Bounded ranges (subjects a.x.1, a.y.1, b.x.1, a.x.2, b.y.2, a.y.2 at 1…6).
        #expect(try f.store.count(filter: "a.>", in: 2...4) == 2)
        #expect(try f.store.count(filter: "a.x.*", in: 1...1) == 1)
        #expect(try f.store.count(filter: "a.x.*", in: 2...3) == 0)
        #expect(try f.store.count(filter: nil, in: 2...5) == 4)
        #expect(try f.store.count(filter: "b.*.*", in: 6...100) == 0)
        #expect(try f.store.count(filter: nil, in: 1...6) == 6)
        await #expect(throws: StoreError.self) { _ = try await f.store.append(request("a.*", "x")) }
        #expect(throws: StoreError.self) { _ = try f.store.next(atOrAfter: 1, filter: "a..b") }
    }

    @Test(arguments: StoreKind.allCases)
    func wildcardScanOverManySubjects(kind: StoreKind) async throws {
        // More than 64 matching subjects takes the sequence-walk path of the file index.
        let f = try StoreFixture(kind)
        for i in 0..<200 { _ = try await f.store.append(request("m.\(i)", "\(i)")) }
        _ = try await f.store.append(request("other", "x"))
        _ = try await f.store.append(request("m.7", "again"))
        #expect(try f.store.next(atOrAfter: 150, filter: "m.*")?.sequence == 150)
        #expect(try f.store.next(atOrAfter: 201, filter: "m.*")?.sequence == 202)
        #expect(try f.store.count(filter: "m.*", atOrAfter: 1) == 201)
    }

    @Test(arguments: StoreKind.allCases)
    func timeLookups(kind: StoreKind) async throws {
        let f = try StoreFixture(kind)
        let start = f.clock.now
        for i in 1...20 {
            _ = try await f.store.append(request("t", "\(i)"))
            f.clock.advance(1_000)
        }
        #expect(try f.store.firstSequence(atOrAfterTime: start) == 1)
        #expect(try f.store.firstSequence(atOrAfterTime: start + 5_000) == 6)
        #expect(try f.store.firstSequence(atOrAfterTime: start + 5_001) == 7)
        #expect(try f.store.firstSequence(atOrAfterTime: start + 19_000) == 20)
        #expect(try f.store.firstSequence(atOrAfterTime: start + 19_001) == nil)
        #expect(try f.store.firstSequence(atOrAfterTime: 0) == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func clockSteppingBackKeepsTimestampsMonotonic(kind: StoreKind) async throws {
        let f = try StoreFixture(kind)
        let first = try await f.store.append(request("t", "1"))
        f.clock.advance(-5_000_000)
        let second = try await f.store.append(request("t", "2"))
        #expect(second.timestamp == first.timestamp)
    }

    @Test(arguments: StoreKind.allCases)
    func deleteAndPurge(kind: StoreKind) async throws {
        let f = try StoreFixture(kind)
        for i in 1...10 { _ = try await f.store.append(request(i % 2 == 0 ? "even" : "odd", "\(i)")) }
        #expect(try await f.store.delete(sequence: 1))
        #expect(try await !f.store.delete(sequence: 1))
        #expect(try await !f.store.delete(sequence: 99))
        #expect(f.store.state.firstSequence == 2 && f.store.state.messages == 9)
        #expect(try await f.store.delete(sequence: 5))
        #expect(f.store.state.deleted == 1)
        #expect(try f.store.message(sequence: 5) == nil)
        #expect(try f.store.next(atOrAfter: 5, filter: nil)?.sequence == 6)

        #expect(try await f.store.purge(PurgeRequest(filter: "even", keep: 2)) == 3)
        #expect(try f.store.subjectCounts(filter: "even") == ["even": 2])
        #expect(try await f.store.purge(PurgeRequest(belowSequence: 7)) == 1)  // only 3 was left below 7
        #expect(f.store.state.firstSequence == 7)
        #expect(try await f.store.purge(PurgeRequest(keep: 1)) == 3)
        #expect(f.store.state.messages == 1 && f.store.state.firstSequence == 10)
        #expect(try await f.store.purge() == 1)
        let state = f.store.state
        #expect(state.messages == 0 && state.bytes == 0 && state.firstSequence == 11 && state.lastSequence == 10 && state.subjects == 0)
        // Sequences continue after a purge, also across a reopen.
        var g = f
        try g.reopen()
        #expect(g.store.state.firstSequence == 11 && g.store.state.lastSequence == 10)
        #expect(try await g.store.append(request("odd", "11")).sequence == 11)
    }

    @Test(arguments: StoreKind.allCases)
    func maxMessagesDiscardOld(kind: StoreKind) async throws {
        let f = try StoreFixture(kind) { $0.maxMessages = 5 }
        for i in 1...12 { _ = try await f.store.append(request("a", "\(i)")) }
        #expect(f.store.state.messages == 5 && f.store.state.firstSequence == 8)
        #expect(try f.store.message(sequence: 7) == nil)
        #expect(try f.store.message(sequence: 8)?.text == "8")
    }

    @Test(arguments: StoreKind.allCases)
    func maxBytesDiscardNewAsTheReference(kind: StoreKind) async throws {
        // nats-server's test: held bytes plus the new message's headers and payload reaching max_bytes.
        let f = try StoreFixture(kind) { $0.maxBytes = 100; $0.discard = .new }
        #expect(try await f.store.append(request("w", String(repeating: "x", count: 60))).sequence == 1)
        let held = f.store.state.bytes  // 77 (memory) or 91 (file)
        // 40 more bytes of payload reach the limit: refused (though 60 + 40 alone would not exceed it).
        await #expect { _ = try await f.store.append(request("w", String(repeating: "y", count: 40))) } throws: { error in
            guard case StoreError.limitReached("bytes") = error else { return false }
            return true
        }
        #expect(f.store.state.messages == 1 && f.store.state.bytes == held)
    }

    @Test(arguments: StoreKind.allCases)
    func maxBytesDiscardOld(kind: StoreKind) async throws {
        let size = kind.accountedSize(subject: 1, headers: 0, payload: 10)
        let f = try StoreFixture(kind) { $0.maxBytes = size * 3 }
        for _ in 1...7 { _ = try await f.store.append(request("a", "0123456789")) }
        #expect(f.store.state.messages == 3 && f.store.state.bytes == size * 3 && f.store.state.firstSequence == 5)
    }

    @Test(arguments: StoreKind.allCases)
    func discardNewRejects(kind: StoreKind) async throws {
        let f = try StoreFixture(kind) { $0.maxMessages = 2; $0.discard = .new }
        _ = try await f.store.append(request("a", "1"))
        _ = try await f.store.append(request("a", "2"))
        await #expect { _ = try await f.store.append(request("a", "3")) } throws: { error in
            guard case StoreError.limitReached("messages") = error else { return false }
            return true
        }
        #expect(f.store.state.messages == 2 && f.store.state.lastSequence == 2)
        #expect(try await f.store.delete(sequence: 1))
        #expect(try await f.store.append(request("a", "3")).sequence == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func maxMessageSize(kind: StoreKind) async throws {
        let f = try StoreFixture(kind) { $0.maxMessageSize = 100 }
        await #expect { _ = try await f.store.append(request("a", String(repeating: "x", count: 200))) } throws: { error in
            guard case StoreError.messageTooLarge(let size, 100) = error else { return false }
            return size == 200  // (headers and payload: what nats-server checks max_msg_size against)
        }
        #expect(try await f.store.append(request("a", "small")).sequence == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func maxMessagesPerSubject(kind: StoreKind) async throws {
        let f = try StoreFixture(kind) { $0.maxMessagesPerSubject = 2 }
        for i in 1...6 { _ = try await f.store.append(request(i <= 4 ? "kv.a" : "kv.b", "\(i)")) }
        #expect(try f.store.subjectCounts(filter: nil) == ["kv.a": 2, "kv.b": 2])
        #expect(try f.store.messages(from: 1, filter: nil, limit: 10).map(\.sequence) == [3, 4, 5, 6])
        #expect(f.store.state.firstSequence == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func maxAgeExpires(kind: StoreKind) async throws {
        let f = try StoreFixture(kind) { $0.maxAge = 10_000_000_000 }  // 10 s
        for i in 1...5 {
            _ = try await f.store.append(request("a", "\(i)"))
            f.clock.advance(3_000_000_000)
        }
        // Now = start + 15 s: messages 1 (t=0) and 2 (t=3) are older than 10 s. A write triggers expiry at once
        // (the file writer also expires on its own timer).
        _ = try await f.store.append(request("a", "6"))
        try await f.store.sync()
        #expect(f.store.state.firstSequence == 3)
        #expect(f.store.state.messages == 4)
        #expect(try f.store.message(sequence: 2) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func deduplicatesWithinWindow(kind: StoreKind) async throws {
        let f = try StoreFixture(kind) { $0.duplicateWindow = 60_000_000_000 }
        let first = try await f.store.append(request("a", "1", id: "m-1"))
        let again = try await f.store.append(request("a", "1 again", id: "m-1"))
        #expect(again.duplicate && again.sequence == first.sequence)
        #expect(f.store.state.messages == 1)
        #expect(try f.store.sequence(forMessageID: "m-1") == 1)
        var g = f
        try g.reopen()
        #expect(try await g.store.append(request("a", "1", id: "m-1")).duplicate)
        g.clock.advance(61_000_000_000)
        let late = try await g.store.append(request("a", "1 late", id: "m-1"))
        #expect(!late.duplicate && late.sequence == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func updateConfigAppliesLimits(kind: StoreKind) async throws {
        let f = try StoreFixture(kind)
        for i in 1...10 { _ = try await f.store.append(request("a", "\(i)")) }
        var config = f.store.currentConfig
        config.maxMessages = 4
        try await f.store.update(config: config)
        #expect(f.store.state.messages == 4 && f.store.state.firstSequence == 7)
        #expect(f.store.currentConfig.maxMessages == 4)
    }

    @Test func configDecodesWithMissingKeysAsDefaults() throws {
        let config = try JSONDecoder().decode(StreamConfig.self, from: Data(#"{"name":"old","maxMessages":5}"#.utf8))
        var expected = StreamConfig(name: "old")
        expected.maxMessages = 5
        #expect(config == expected)
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(StreamConfig.self, from: Data(#"{"maxMessages":5}"#.utf8)) }
    }

    @Test(arguments: StoreKind.allCases)
    func expectationsAreCheckedWithTheAppend(kind: StoreKind) async throws {
        var f = try StoreFixture(kind)
        var first = request("kv.a", "1")
        first.expectations.lastSubjectSequence = 0  // create-if-absent
        #expect(try await f.store.append(first).sequence == 1)
        await #expect { _ = try await f.store.append(first) } throws: { error in
            guard case StoreError.wrongLastSubjectSequence(actual: 1) = error else { return false }
            return true
        }
        var update = request("kv.a", "2")
        update.expectations.lastSubjectSequence = 1
        #expect(try await f.store.append(update).sequence == 2)
        var other = request("kv.b", "x")
        other.expectations.lastSequence = 1
        await #expect { _ = try await f.store.append(other) } throws: { error in
            guard case StoreError.wrongLastSequence(actual: 2) = error else { return false }
            return true
        }
        other.expectations.lastSequence = 2
        #expect(try await f.store.append(other).sequence == 3)
        #expect(f.store.state.messages == 3 && f.store.state.lastSequence == 3)
        try f.reopen()
        #expect(f.store.state.messages == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func rollupsRemoveEarlierMessages(kind: StoreKind) async throws {
        var f = try StoreFixture(kind)
        for i in 1...3 { _ = try await f.store.append(request("r.a", "\(i)")) }
        _ = try await f.store.append(request("r.b", "b"))
        var rollup = request("r.a", "rolled")
        rollup.rollup = .subject
        #expect(try await f.store.append(rollup).sequence == 5)
        #expect(try f.store.subjectCounts(filter: nil) == ["r.a": 1, "r.b": 1])
        var all = request("r.c", "everything")
        all.rollup = .all
        _ = try await f.store.append(all)
        #expect(try f.store.messages(from: 1, filter: nil, limit: 10).map(\.sequence) == [6])
        // The removals are in the log: a reopen (and a rebuild) gives the same contents.
        try f.reopen()
        #expect(try f.store.messages(from: 1, filter: nil, limit: 10).map(\.sequence) == [6])
    }

    @Test(arguments: StoreKind.allCases)
    func expectedLastMessageID(kind: StoreKind) async throws {
        var f = try StoreFixture(kind)
        var first = request("x", "1", id: "m1")
        first.expectations.lastMessageID = "m0"
        await #expect { _ = try await f.store.append(first) } throws: { error in
            guard case StoreError.wrongLastMessageID(actual: "") = error else { return false }
            return true
        }
        first.expectations.lastMessageID = ""
        #expect(try await f.store.append(first).sequence == 1)
        try f.reopen()  // the last id comes back from the log
        var second = request("x", "2")
        second.expectations.lastMessageID = "m1"
        #expect(try await f.store.append(second).sequence == 2)
        var third = request("x", "3")
        third.expectations.lastMessageID = "m1"
        await #expect { _ = try await f.store.append(third) } throws: { error in
            guard case StoreError.wrongLastMessageID(actual: "") = error else { return false }
            return true
        }
    }
}
