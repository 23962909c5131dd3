import Foundation
import Testing
@testable import Consumers

/// The ordered pending set against the dictionary it replaced: any mix of deliveries (in order and out of
/// it), single removals, ack-all removals and updates leaves the same entries, keys in order.
@Suite struct PendingMessagesTests {
    private func entry(_ n: UInt64) -> ConsumerState.Pending {
        .init(consumerSeq: n, deliveredAt: Int64(n), deliveries: Int(n % 3) + 1, deadline: Int64(n) * 10)
    }

    @Test func randomOperationsMatchADictionary() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20 {
            var model: [UInt64: ConsumerState.Pending] = [:]
            var pending = PendingMessages()
            var next: UInt64 = 1
            for step in 0..<2_000 {
                switch UInt8.random(in: 0..<10, using: &generator) {
                case 0..<4:  // a new delivery, above everything so far
                    next += UInt64.random(in: 1...3, using: &generator)
                    model[next] = entry(next)
                    pending[next] = entry(next)
                case 4:  // a delivery below the last (a redelivery of a removed one, or out of order)
                    let s = UInt64.random(in: 1...next, using: &generator)
                    model[s] = entry(s + 1)
                    pending[s] = entry(s + 1)
                case 5, 6:  // an explicit ack, often of the oldest
                    let s = Bool.random(using: &generator) ? (model.keys.min() ?? 1) : UInt64.random(in: 1...next, using: &generator)
                    #expect(pending.removeValue(forKey: s) == model.removeValue(forKey: s), "round \(round) step \(step)")
                case 7:  // ack-all up to a sequence
                    let bound = UInt64.random(in: 0...next, using: &generator)
                    let expected = model.keys.filter { $0 <= bound }.sorted()
                    for s in expected { model[s] = nil }
                    #expect(pending.removeAll(atOrBelow: bound) == expected, "round \(round) step \(step)")
                case 8:  // removal through the subscript
                    let s = UInt64.random(in: 1...next, using: &generator)
                    model[s] = nil
                    pending[s] = nil
                default:  // an update of an existing entry (a nak's new deadline)
                    if let s = model.keys.randomElement(using: &generator) {
                        var changed = model[s]!
                        changed.deadline += 1
                        model[s] = changed
                        pending[s] = changed
                    }
                }
                #expect(pending.count == model.count)
                #expect(pending.first == model.keys.min())
            }
            #expect(pending.keys == model.keys.sorted())
            for (s, value) in model { #expect(pending[s] == value) }
            #expect(pending.map(\.key) == model.keys.sorted())
            #expect(pending == PendingMessages(model))
        }
    }

    @Test func codableKeepsTheDictionaryForm() throws {
        let pending: PendingMessages = [9: entry(9), 3: entry(3)]
        let dictionary: [UInt64: ConsumerState.Pending] = [9: entry(9), 3: entry(3)]
        let decoded = try JSONDecoder().decode([UInt64: ConsumerState.Pending].self, from: JSONEncoder().encode(pending))
        #expect(decoded == dictionary)
        #expect(try JSONDecoder().decode(PendingMessages.self, from: JSONEncoder().encode(dictionary)) == pending)
        #expect(pending.keys == [3, 9])
    }

    @Test func removingEveryEntryEmptiesAndAcceptsNewOnes() {
        var pending = PendingMessages()
        for s in UInt64(1)...100 { pending[s] = entry(s) }
        #expect(pending.removeAll(atOrBelow: 100) == Array(1...100))
        #expect(pending.isEmpty && pending.first == nil && pending[50] == nil)
        pending[7] = entry(7)
        pending[5] = entry(5)
        #expect(pending.keys == [5, 7])
    }
}
