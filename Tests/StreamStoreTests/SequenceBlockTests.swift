import Foundation
import LMDB
import Platform
import Testing
@testable import StreamStore

/// The sequence index keeps 32 sequences to a key (Specs/IndexSchema.md, "Sequence blocks").
@Suite struct SequenceBlockTests {
    static func randomLocation(_ rng: inout SplitMix64) -> MessageLocation {
        // Extremes as well as the usual small values, so every delta's sign and width is crossed.
        func pick(_ small: UInt64) -> UInt64 {
            switch rng.next() % 4 {
            case 0: return rng.next()
            case 1: return [0, 1, .max, .max - 1][Int(rng.next() % 4)]
            default: return rng.next() % small
            }
        }
        return MessageLocation(segment: pick(1 << 20), frameOffset: pick(1 << 30), recordIndex: UInt32(truncatingIfNeeded: pick(300)),
                               accountedSize: UInt32(truncatingIfNeeded: pick(4096)), timestamp: Int64(bitPattern: pick(1 << 40)),
                               subjectID: pick(10_000))
    }

    /// A location after `previous`: often the next record of its frame, with some fields the same (what the
    /// flagged layout elides), else a random one.
    static func nextLocation(after previous: MessageLocation?, _ rng: inout SplitMix64) -> MessageLocation {
        guard let previous, rng.next() % 3 != 0 else { return randomLocation(&rng) }
        var location = previous
        let fresh = randomLocation(&rng)
        let roll = rng.next()
        if roll & 1 != 0 { location.recordIndex = previous.recordIndex &+ 1 } else { location.recordIndex = fresh.recordIndex }
        if roll & 2 != 0 { location.accountedSize = fresh.accountedSize }
        if roll & 4 != 0 { location.subjectID = fresh.subjectID }
        if roll & 8 != 0 { location.segment = fresh.segment; location.frameOffset = fresh.frameOffset }
        location.timestamp = roll & 16 != 0 ? previous.timestamp : fresh.timestamp
        return location
    }

    @Test(arguments: [SequenceBlock.Layout.flagged, .deltas])
    func blocksDecodeToWhatWasEncoded(layout: SequenceBlock.Layout) throws {
        var rng = SplitMix64(seed: 7)
        for round in 0..<2_000 {
            let base = SequenceBlock.base(of: rng.next() >> 1)
            let present = UInt32(truncatingIfNeeded: rng.next()) | (round == 0 ? .max : 0)
            var entries: [(UInt64, MessageLocation)] = []
            for bit in 0..<32 where present & (1 << UInt32(bit)) != 0 {
                entries.append((base + UInt64(bit), Self.nextLocation(after: entries.last?.1, &rng)))
            }
            let encoder = try SequenceBlockEncoder(base: base, entries: entries, layout: layout)
            let decoded = try encoder.bytes.withUnsafeBytes { raw in
                var decoder = try SequenceBlockDecoder(base: base, raw: raw, layout: layout)
                return try decoder.all()
            }
            #expect(decoded.map(\.0) == entries.map(\.0))
            #expect(decoded.map(\.1) == entries.map(\.1))
            // An encoder continuing the value appends as one built whole would.
            if layout == .flagged, let last = entries.last, last.0 < base + 31 {
                let next = (last.0 + 1, Self.nextLocation(after: last.1, &rng))
                var continued = try encoder.bytes.withUnsafeBytes { try SequenceBlockEncoder(continuing: $0, base: base) }
                try continued.append(next.0, next.1)
                #expect(continued.bytes == (try SequenceBlockEncoder(base: base, entries: entries + [next])).bytes)
            }
        }
    }

    @Test func malformedBlocksAreErrorsNotLocations() throws {
        let location = MessageLocation(segment: 1, frameOffset: 40, recordIndex: 3, accountedSize: 300, timestamp: 1_700_000_000_000_000_000, subjectID: 9)
        let bytes = try SequenceBlockEncoder(base: 64, entries: [(UInt64(65), location), (UInt64(70), location)]).bytes
        func decode(_ value: [UInt8]) throws -> [(UInt64, MessageLocation)] {
            try value.withUnsafeBytes { raw in
                var decoder = try SequenceBlockDecoder(base: 64, raw: raw)
                return try decoder.all()
            }
        }
        #expect(try decode(bytes).map(\.0) == [65, 70])
        for cut in 0..<bytes.count { #expect(throws: StoreError.self) { try decode(Array(bytes.prefix(cut))) } }
        #expect(throws: StoreError.self) { try decode(bytes + [0]) }
        // A flag byte with a bit no layout defines.
        var unknownFlag = bytes
        unknownFlag[4] |= 0x10
        #expect(throws: StoreError.self) { try decode(unknownFlag) }
        // The next record after the largest record index is no location.
        let last = MessageLocation(segment: 1, frameOffset: 40, recordIndex: .max, accountedSize: 300, timestamp: 0, subjectID: 9)
        var overflow = try SequenceBlockEncoder(base: 64, entries: [(UInt64(65), last)]).bytes
        overflow.append(SequenceBlock.sameFrame | SequenceBlock.nextRecord | SequenceBlock.sameSize | SequenceBlock.sameSubject)
        overflow.append(0)
        overflow[0] |= 1 << 2
        #expect(throws: StoreError.self) { try decode(overflow) }
        var encoder = SequenceBlockEncoder(base: 64)
        try encoder.append(70, location)
        #expect(throws: StoreError.self) { try encoder.append(70, location) }
        #expect(throws: StoreError.self) { try encoder.append(96, location) }
    }

    /// Random appends, removals, range removals and relocations against a dictionary: every query agrees.
    @Test func theIndexAgreesWithAModel() throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let environment = try Environment(path: directory.path, maxDatabases: 2, durability: .deferred)
        let database = try environment.write { txn in try txn.openDatabase("seqBlocks", create: true) }
        var model: [UInt64: MessageLocation] = [:]
        var next: UInt64 = 1
        var rng = SplitMix64(seed: 11)
        for _ in 0..<300 {
            try environment.write { (txn) throws in
                let index = SequenceIndex(txn: txn, database: database)
                var appender = SequenceAppender()
                for _ in 0..<Int(rng.next() % 40) {
                    switch rng.next() % 10 {
                    case 0..<6:
                        next += 1 + rng.next() % 3 * (rng.next() % 20)
                        let location = Self.randomLocation(&rng)
                        try appender.append(next, location, to: index)
                        model[next] = location
                    case 6:
                        appender.reset()
                        let wanted = (0..<Int(1 + rng.next() % 40)).map { _ in 1 + rng.next() % next }
                        var removed: [UInt64] = []
                        try index.remove(sorted: wanted.sorted()) { s, location in
                            #expect(model.removeValue(forKey: s) == location)
                            removed.append(s)
                        }
                        #expect(removed == Array(Set(removed)).sorted())
                        #expect(wanted.allSatisfy { model[$0] == nil })
                    case 7:
                        appender.reset()
                        let s = 1 + rng.next() % next
                        #expect(try index.remove(s) == model.removeValue(forKey: s))
                    case 8:
                        appender.reset()
                        let low = 1 + rng.next() % next
                        let range = low...(low + rng.next() % 80)
                        var removed: [UInt64] = []
                        try index.remove(range: range) { s, location in
                            #expect(model.removeValue(forKey: s) == location)
                            removed.append(s)
                        }
                        #expect(removed == removed.sorted())
                        #expect(model.keys.allSatisfy { !range.contains($0) })
                    default:
                        appender.reset()
                        let s = 1 + rng.next() % next
                        let location = Self.randomLocation(&rng)
                        #expect(try index.update(s, to: location) == (model[s] != nil))
                        if model[s] != nil { model[s] = location }
                    }
                }
            }
            try environment.read { txn in
                let index = SequenceIndex(txn: txn, database: database)
                let held = model.keys.sorted()
                for _ in 0..<20 {
                    let s = 1 + rng.next() % (next + 40)
                    #expect(try index.location(s) == model[s])
                    let after = held.first { $0 >= s }
                    #expect(try index.firstHeld(atOrAfter: s)?.0 == after)
                    let before = held.last { $0 <= s }
                    #expect(try index.lastHeld(atOrBefore: s)?.0 == before)
                    let range = s...(s + rng.next() % 100)
                    #expect(try index.count(in: range) == UInt64(held.filter { range.contains($0) }.count))
                }
                var walked: [UInt64] = []
                try index.walk(from: 1) { s, location in
                    #expect(model[s] == location)
                    walked.append(s)
                    return true
                }
                #expect(walked == held)
                #expect(try index.count() == UInt64(held.count))
                let wanted = held.filter { _ in rng.next() % 3 == 0 } + [next + 1]
                var found: [UInt64] = []
                try index.locations(of: wanted.sorted()) { s, _ in found.append(s) }
                #expect(found == wanted.filter { model[$0] != nil })
            }
        }
    }

    /// Turns a stream's index back into format version 4: a `seq` key per message, as that version wrote it.
    static func downgradeToVersion4(_ root: String) throws {
        try SubjectBlockTests.downgradeToVersion5(root)
        let environment = try Environment(path: root + "/index", maxDatabases: 10, durability: .deferred)
        try environment.write { (txn) throws in
            let meta = try txn.openDatabase("meta", create: false)
            let blocks = try txn.openDatabase("seqBlocks", create: false)
            let old = try txn.openDatabase("seq", create: true)
            var entries: [(UInt64, MessageLocation)] = []
            try txn.withCursor(blocks) { cursor in
                var entry = try cursor.first()
                while let current = entry {
                    // Format 5's layout: the version-5 step before re-encoded the blocks.
                    var decoder = try SequenceBlockDecoder(base: current.key.loadBE(UInt64.self, at: 0), raw: current.value, layout: .deltas)
                    entries += try decoder.all()
                    entry = try cursor.next()
                }
            }
            for (sequence, location) in entries { try txn.put(old, key: Key.u64(sequence), value: location.encoded(), append: true) }
            try txn.drop(blocks)
            try txn.put(meta, key: Array("format".utf8), value: [UInt8]([4, 0, 0, 0]))
        }
    }

    /// A version-4 index opens without a rebuild: its sequence index is moved into blocks, in place, and
    /// every read answers as before.
    @Test func aFormatFourIndexIsConvertedInPlace() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = directory.stream()
        var config = StreamConfig(name: "s")
        config.compression = true
        let stream = try FileStream.create(at: root, config: config)
        _ = await stream.append(contentsOf: (1...500).map { request("s.\($0 % 7)", "m\($0)") })
        _ = try await stream.purge(PurgeRequest(filter: "s.3"))
        _ = try await stream.purge(PurgeRequest(belowSequence: 40))
        try stream.saveConsumer(ConsumerRecord(name: "c", deliveredStreamSequence: 100, ackFloorStreamSequence: 90, pendingSequences: [95],
                                               config: Data("{}".utf8), state: Data()))
        let before = try stream.messages(from: 1, limit: 1_000).map { ($0.sequence, $0.subject, $0.text) }
        let filtered = try stream.messages(from: 1, filter: "s.5", limit: 1_000).map(\.sequence)
        stream.close()
        try Self.downgradeToVersion4(root)

        let upgraded = try FileStream(directory: root)
        #expect(upgraded.recovery.isClean && upgraded.recovery.messagesIndexed == 0, "\(upgraded.recovery)")
        #expect(try upgraded.messages(from: 1, limit: 1_000).map { ($0.sequence, $0.subject, $0.text) }.elementsEqual(before, by: ==))
        #expect(try upgraded.messages(from: 1, filter: "s.5", limit: 1_000).map(\.sequence) == filtered)
        #expect(try upgraded.count(filter: nil, in: 100...200) == UInt64(before.filter { (100...200).contains($0.0) }.count))
        #expect(try upgraded.consumers().map(\.name) == ["c"])
        let (format, oldNames) = try upgraded.index.environment.read { txn in
            (try txn.get(upgraded.index.meta, key: Array("format".utf8)).map { $0.loadLE(UInt32.self, at: 0) },
             (try? txn.openDatabase("seq", create: false)) != nil)
        }
        #expect(format == IndexStore.formatVersion)
        #expect(!oldNames, "the per-message `seq` database is dropped")
        upgraded.close()
        let report = try StreamVerifier.verify(directory: root)
        #expect(report.isClean, "\(report.findings)")
    }

    /// The sequence index costs a few bytes a message, not a key each (about 34 bytes in format 4, 9 in format
    /// 5; about 5 here, 10 subjects in turn, every entry naming its subject).
    @Test func theSequenceIndexIsAFewBytesAMessage() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        defer { stream.close() }
        let count = 6_400
        _ = await stream.append(contentsOf: (1...count).map { request("s.\($0 % 10)", String(repeating: "x", count: 200)) })
        let bytes = try stream.index.environment.read { txn in try txn.pageBytes(stream.index.sequences) }
        #expect(bytes <= count * 6, "\(bytes) bytes of pages for \(count) messages")
    }
}
