import Foundation
import LMDB
import Platform
import Testing
@testable import StreamStore
import Subjects

/// The subject index keeps up to 64 of a subject's sequences to a key (Specs/IndexSchema.md, "Subject
/// blocks").
@Suite struct SubjectBlockTests {
    @Test func blocksDecodeToWhatWasEncoded() throws {
        var rng = SplitMix64(seed: 11)
        for round in 0..<2_000 {
            let anchor = round == 0 ? 0 : rng.next() >> UInt64(rng.next() % 64)
            let count = 1 + Int(rng.next() % UInt64(SubjectBlock.capacity))
            var sequences: [UInt64] = []
            var next = anchor &+ (round % 3 == 0 ? 0 : rng.next() % 1_000)
            for _ in 0..<count {
                guard next >= anchor else { break }
                sequences.append(next)
                // Gaps from 1 to very large, so every varint width is crossed; stop before overflow.
                let gap = rng.next() % 4 == 0 ? rng.next() >> UInt64(8 + rng.next() % 56) + 1 : 1 + rng.next() % 20
                let (sum, overflow) = next.addingReportingOverflow(gap)
                if overflow { break }
                next = sum
            }
            let bytes = SubjectBlock.encode(anchor: anchor, sequences)
            #expect(bytes[0] == UInt8(sequences.count))
            let decoded = try bytes.withUnsafeBytes { try SubjectBlock.decode(subjectID: 1, anchor: anchor, $0) }
            #expect(decoded == sequences)
        }
        // A run of close sequences costs a byte each.
        #expect(SubjectBlock.encode(anchor: 100, Array(100..<164)).count == 65)
    }

    @Test func aMalformedBlockIsAnIndexMismatch() throws {
        let good = SubjectBlock.encode(anchor: 10, [10, 11, 300, 70_000])
        for cut in 0..<good.count {
            #expect(throws: StoreError.self) { try Array(good[..<cut]).withUnsafeBytes { try SubjectBlock.decode(subjectID: 1, anchor: 10, $0) } }
        }
        var extra = good
        extra.append(0)
        #expect(throws: StoreError.self) { try extra.withUnsafeBytes { try SubjectBlock.decode(subjectID: 1, anchor: 10, $0) } }
        // A zero gap after the first (a repeated sequence), a zero or oversized count, an overflowing sum.
        for bad: [UInt8] in [[2, 0, 0], [0], [65] + [UInt8](repeating: 1, count: 65), [2, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]] {
            #expect(throws: StoreError.self) { try bad.withUnsafeBytes { try SubjectBlock.decode(subjectID: 1, anchor: 10, $0) } }
        }
    }

    /// Random appends, inserts and removals against a model: every query answers as the model does, and the
    /// blocks keep their invariants (ascending, at most 64, each sequence below the next block's anchor).
    @Test func theIndexAnswersAsAModel() throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let index = try IndexStore(path: directory.path)
        var rng = SplitMix64(seed: 3)
        var model: [UInt64: [UInt64]] = [:]
        var nextSequence: UInt64 = 1
        for round in 0..<300 {
            // The change is planned first and the model follows it after the commit: a write whose map fills
            // up runs its body again.
            enum Change { case append([(UInt64, UInt64)]), insert([(UInt64, UInt64)]), remove(UInt64, [UInt64]) }
            let change: Change
            switch rng.next() % 4 {
            case 0, 1:
                // Appends over a few subjects, as the writer makes them.
                change = .append((0..<(1 + rng.next() % 200)).map { _ in
                    nextSequence += 1 + (rng.next() % 8 == 0 ? rng.next() % 1_000 : 0)
                    return (1 + rng.next() % 5, nextSequence)
                })
            case 2:
                // Inserts below the newest (a block may split).
                change = .insert((0..<(1 + rng.next() % 50)).map { _ in (1 + rng.next() % 5, rng.next() % (nextSequence + 1)) })
            default:
                // A sorted batch of removals, some not held.
                let id = 1 + rng.next() % 5
                let held = model[id] ?? []
                var batch = held.filter { _ in rng.next() % 3 == 0 } + (0..<5).map { _ in rng.next() % (nextSequence + 1) }
                if round % 7 == 0 { batch += held.prefix(70) }
                change = .remove(id, batch.sorted())
            }
            var removed = 0
            try index.write { writer in
                let subjects = SubjectSequenceIndex(txn: writer.txn, database: index.subjectSequences)
                var appender = SubjectAppender()
                switch change {
                case .append(let appends): for (id, sequence) in appends { try appender.append(sequence, subject: id, to: subjects) }
                case .insert(let inserts): for (id, sequence) in inserts { try subjects.insert(id, sequence) }
                case .remove(let id, let batch): removed = try subjects.remove(id, sorted: batch)
                }
            }
            switch change {
            case .append(let appends): for (id, sequence) in appends { model[id, default: []].append(sequence) }
            case .insert(let inserts):
                for (id, sequence) in inserts where !(model[id] ?? []).contains(sequence) {
                    model[id, default: []].append(sequence)
                    model[id]!.sort()
                }
            case .remove(let id, let batch):
                let held = model[id] ?? []
                let kept = held.filter { !batch.contains($0) }
                #expect(removed == held.count - kept.count)
                model[id] = kept.isEmpty ? nil : kept
            }
            try index.read { reader in
                let subjects = reader.subjectSequences
                for id in 0...6 as ClosedRange<UInt64> {
                    let held = model[id] ?? []
                    var walked: [UInt64] = []
                    try subjects.walk(id, from: 0) { walked.append($0); return true }
                    #expect(walked == held, "subject \(id)")
                    for _ in 0..<5 {
                        let probe = rng.next() % (nextSequence + 2)
                        #expect(try subjects.first(id, atOrAfter: probe) == held.first { $0 >= probe })
                        #expect(try subjects.last(id, atOrBefore: probe) == held.last { $0 <= probe })
                        let low = rng.next() % (nextSequence + 2)
                        let range = low...(rng.next() % 2 == 0 ? .max : low + rng.next() % 500)
                        #expect(try subjects.count(id, in: range) == UInt64(held.filter { range.contains($0) }.count))
                    }
                }
                // Invariants over the raw blocks.
                var previous: (id: UInt64, last: UInt64)?
                try reader.txn.withCursor(index.subjectSequences) { cursor in
                    var entry = try cursor.first()
                    while let current = entry {
                        let (id, anchor) = SubjectBlock.decodeKey(current.key)!
                        let sequences = try SubjectBlock.decode(subjectID: id, anchor: anchor, current.value)
                        #expect(sequences.count <= SubjectBlock.capacity && sequences.first! >= anchor)
                        if let previous, previous.id == id { #expect(previous.last < anchor) }
                        previous = (id, sequences.last!)
                        entry = try cursor.next()
                    }
                }
            }
        }
    }

    /// Turns a current (version-6) index into version 5: each subject's sequences as packed 8-byte
    /// duplicates in `bySubject`, `subjectBlocks` dropped, the sequence blocks in format 5's layout.
    static func downgradeToVersion5(_ root: String) throws {
        let environment = try Environment(path: root + "/index", maxDatabases: 10, durability: .deferred)
        try environment.write { (txn) throws in
            let meta = try txn.openDatabase("meta", create: false)
            let blocks = try txn.openDatabase("subjectBlocks", create: false)
            let old = try txn.openDatabase("bySubject", create: true, sortedFixedDuplicates: true)
            var entries: [(UInt64, UInt64)] = []
            try SubjectSequenceIndex(txn: txn, database: blocks).forEachBlock { id, sequences in
                entries += sequences.map { (id, $0) }
            }
            for (id, sequence) in entries { try txn.put(old, key: Key.u64(id), value: Key.u64(sequence)) }
            try txn.drop(blocks)
            let sequenceBlocks = try txn.openDatabase("seqBlocks", create: false)
            var rewritten: [(UInt64, [UInt8])] = []
            try txn.withCursor(sequenceBlocks) { cursor in
                var entry = try cursor.first()
                while let current = entry {
                    let base = current.key.loadBE(UInt64.self, at: 0)
                    var decoder = try SequenceBlockDecoder(base: base, raw: current.value)
                    rewritten.append((base, try SequenceBlockEncoder(base: base, entries: try decoder.all(), layout: .deltas).bytes))
                    entry = try cursor.next()
                }
            }
            for (base, bytes) in rewritten { try txn.put(sequenceBlocks, key: Key.u64(base), value: bytes) }
            try txn.put(meta, key: Array("format".utf8), value: [UInt8]([5, 0, 0, 0]))
        }
    }

    /// A version-5 index opens without a rebuild: its subject index is moved into blocks, in place, and every
    /// read answers as before.
    @Test func aFormatFiveIndexIsConvertedInPlace() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = directory.stream()
        let stream = try FileStream.create(at: root, config: StreamConfig(name: "s"))
        // 150 messages on s.0 make three blocks of it; s.3 is purged, the head is cut.
        _ = await stream.append(contentsOf: (1...1_000).map { request("s.\($0 % 7)", "m\($0)") })
        _ = try await stream.purge(PurgeRequest(filter: "s.3"))
        _ = try await stream.purge(PurgeRequest(belowSequence: 40))
        let subjects = ["s.0", "s.1", "s.2", "s.3", "s.4", "s.5", "s.6"]
        func answers(_ s: FileStream) throws -> [[UInt64]] {
            try subjects.map { subject in
                [try s.last(subject: subject)?.sequence ?? 0, try s.count(filter: subject, in: 500...UInt64.max)]
                    + (try s.messages(from: 1, filter: subject, limit: 1_000).map(\.sequence))
            }
        }
        let before = try answers(stream)
        let counts = try stream.subjectCounts()
        let s1 = try #require(try stream.index.read { try $0.subjectEntry("s.1") })
        stream.close()
        try Self.downgradeToVersion5(root)
        // Format 5 left a subject's last sequence behind when its newest message was removed: s.1's names
        // one not held; the upgrade puts the newest it holds back.
        do {
            let environment = try Environment(path: root + "/index", maxDatabases: 10, durability: .deferred)
            try environment.write { (txn) throws in
                var stale = s1
                stale.lastSequence += 3
                try txn.put(try txn.openDatabase("subjects", create: false), key: "s.1", value: stale.encoded())
            }
        }

        let upgraded = try FileStream(directory: root)
        #expect(upgraded.recovery.isClean && upgraded.recovery.messagesIndexed == 0, "\(upgraded.recovery)")
        #expect(try answers(upgraded) == before)
        #expect(try upgraded.subjectCounts() == counts)
        let (format, oldNames) = try upgraded.index.environment.read { txn in
            (try txn.get(upgraded.index.meta, key: Array("format".utf8)).map { $0.loadLE(UInt32.self, at: 0) },
             (try? txn.openDatabase("bySubject", create: false)) != nil)
        }
        #expect(format == IndexStore.formatVersion)
        #expect(!oldNames, "the packed `bySubject` database is dropped")
        // Appends after the upgrade extend the converted blocks.
        _ = await upgraded.append(contentsOf: (1...100).map { request("s.\($0 % 7)", "n\($0)") })
        #expect(try upgraded.messages(from: 1, filter: "s.0", limit: 1_000).count == before[0].count - 2 + 14)
        upgraded.close()
        let report = try StreamVerifier.verify(directory: root)
        #expect(report.isClean, "\(report.findings)")
    }

    /// Removing a subject's newest message makes its newest held one its last: last-by-subject finds it, and
    /// the verifier agrees.
    @Test func removingASubjectsNewestKeepsItsLast() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let root = directory.stream()
        let stream = try FileStream.create(at: root, config: StreamConfig(name: "s"))
        _ = await stream.append(contentsOf: (1...10).map { request("s.\($0 % 2)", "m\($0)") })
        #expect(try await stream.delete(sequence: 10))
        #expect(try stream.last(subject: "s.0")?.sequence == 8)
        #expect(try stream.last(subject: "s.*")?.sequence == 9)
        stream.close()
        let report = try StreamVerifier.verify(directory: root)
        #expect(report.isClean, "\(report.findings)")
    }

    /// The verifier reads the subject index against the sequence index: a block of a sequence not held, and
    /// a block that does not decode, are index mismatches.
    @Test func theVerifierChecksTheSubjectIndex() async throws {
        for damage in 0..<2 {
            let directory = TemporaryDirectory()
            defer { withExtendedLifetime(directory) {} }
            let root = directory.stream()
            let stream = try FileStream.create(at: root, config: StreamConfig(name: "s"))
            _ = await stream.append(contentsOf: (1...100).map { request("s.\($0 % 3)", "m\($0)") })
            let id = try #require(try stream.index.read { try $0.subjectEntry("s.1") }).id
            try stream.index.write { writer in
                let subjects = SubjectSequenceIndex(txn: writer.txn, database: stream.index.subjectSequences)
                if damage == 0 {
                    try subjects.insert(id, 5_000)
                } else {
                    try writer.txn.put(stream.index.subjectSequences, key: SubjectBlock.key(id, 0), value: [3, 1])
                }
            }
            stream.close()
            let report = try StreamVerifier.verify(directory: root)
            #expect(report.findings.contains { $0.kind == .indexMismatch && $0.detail.contains("subject") }, "\(report.findings)")
        }
    }

    /// A filtered count answers the same over short ranges (walked in the sequence index) and long ones (the
    /// subjects' blocks), with removals in between.
    @Test func filteredCountsOfShortAndLongRangesAgree() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        defer { stream.close() }
        _ = await stream.append(contentsOf: (1...3_000).map { request("s.\($0 % 13).\($0 % 2)", "m\($0)") })
        var rng = SplitMix64(seed: 5)
        let removed = (0..<400).map { _ in 1 + rng.next() % 3_000 }
        _ = try await withCheckedThrowingContinuation { continuation in stream.remove(removed) { continuation.resume(with: $0) } }
        let held = try stream.messages(from: 1, limit: 5_000)
        for filter in ["s.3.1", "s.*.0", "s.>", "s.1*.1", "s.12.*"] {
            for _ in 0..<60 {
                let low = 1 + rng.next() % 3_100
                let range = low...(low + [0, 5, 40, 300, 5_000][Int(rng.next() % 5)])
                let expected = held.filter { range.contains($0.sequence) && Subject.matches($0.subject, filter: filter) }.count
                #expect(try stream.count(filter: filter, in: range) == UInt64(expected), "\(filter) \(range)")
            }
        }
    }

    /// The subject index costs a byte or two a message, where packed duplicates cost eight: 10 subjects in
    /// turn (about 1.4 bytes a message in blocks, pages about two thirds full).
    @Test func theSubjectIndexIsAByteOrTwoAMessage() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        defer { stream.close() }
        let count = 12_800
        _ = await stream.append(contentsOf: (1...count).map { request("s.\($0 % 10)", String(repeating: "x", count: 200)) })
        let bytes = try stream.index.environment.read { txn in try txn.pageBytes(stream.index.subjectSequences) }
        #expect(bytes <= count * 3, "\(bytes) bytes of pages for \(count) messages")
    }
}
