import Foundation
import StreamStore
import Testing
@testable import Broker

/// A consumer's read-ahead answers exactly as the store would: every message in order, the filter kept,
/// nothing the stream has removed since it read ahead, and redeliveries from before it.
@Suite struct ReadAheadTests {
    @Test func answersAsTheStoreWouldAcrossAppendsRemovalsAndRedeliveries() async throws {
        let store = try MemoryStream(config: StreamConfig(name: "s"))
        for i in 1...300 { _ = try await store.append(AppendRequest(subject: "o.\(i % 3)", payload: Array("\(i)".utf8))) }
        var readAhead = ReadAhead()
        // Sequentially, filtered and not: the same messages as the store's own answers.
        for filter in [nil, "o.1"] as [String?] {
            readAhead = ReadAhead()
            var next: UInt64 = 1
            var seen: [UInt64] = []
            while let message = readAhead.message(atOrAfter: next, filter: filter, in: store) {
                #expect(message == (try store.next(atOrAfter: next, filter: filter)))
                seen.append(message.sequence)
                next = message.sequence + 1
            }
            #expect(seen == (1...300).filter { filter == nil || $0 % 3 == 1 }.map(UInt64.init))
        }
        // Read ahead from 100, then remove 101: it is not answered from the stale read-ahead.
        readAhead = ReadAhead()
        #expect(readAhead.message(atOrAfter: 100, filter: nil, in: store)?.sequence == 100)
        #expect(try await store.delete(sequence: 101))
        #expect(readAhead.message(atOrAfter: 101, filter: nil, in: store)?.sequence == 102)
        // A redelivery before the read-ahead is read from the store; later messages still come from it.
        #expect(readAhead.message(atOrAfter: 5, filter: nil, in: store)?.sequence == 5)
        #expect(readAhead.message(atOrAfter: 103, filter: nil, in: store)?.sequence == 103)
        // New messages after the last one held are found.
        #expect(readAhead.message(atOrAfter: 301, filter: nil, in: store) == nil)
        _ = try await store.append(AppendRequest(subject: "o.0", payload: Array("new".utf8)))
        #expect(readAhead.message(atOrAfter: 301, filter: nil, in: store)?.sequence == 301)
    }
}
