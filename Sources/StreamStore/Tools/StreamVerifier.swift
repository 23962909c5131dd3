#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// One thing `verify` found wrong, with where and what it costs.
public struct Finding: Codable, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        /// A segment's header is missing or damaged.
        case badSegmentHeader
        /// Bytes that are not a valid frame, followed by valid frames.
        case damagedFrames
        /// Bytes that are not a valid frame at the end of a segment (a torn write, or damage).
        case damagedTail
        /// Message sequences out of order, or outside their segment's range.
        case sequenceOrder
        /// The index cannot be opened or read.
        case indexUnreadable
        /// The index and the log disagree (a message, its location, a subject, the counters, the marker).
        case indexMismatch
        /// A stored consumer's positions do not fit the stream.
        case consumerState
    }

    public var kind: Kind
    public var file: String?
    public var offset: Int64?
    public var length: Int64?
    /// Sequences affected, when known.
    public var sequences: ClosedRange<UInt64>?
    public var detail: String

    public var description: String {
        var parts: [String] = [kind.rawValue]
        if let file { parts.append(file + (offset.map { "@\($0)" } ?? "")) }
        if let length { parts.append("\(length) bytes") }
        if let sequences { parts.append("sequences \(sequences.lowerBound)...\(sequences.upperBound)") }
        parts.append(detail)
        return parts.joined(separator: ": ")
    }
}

/// What `verify` read and found.
public struct VerificationReport: Codable, Equatable, Sendable {
    public var segments = 0
    public var frames = 0
    public var messageRecords = 0
    public var liveMessages = 0
    public var bytesRead: Int64 = 0
    public var findings: [Finding] = []
    public var isClean: Bool { findings.isEmpty }
}

/// Checks a stream offline (Specs/Recovery.md): every frame's CRC, decompression and records; sequence
/// order; and the index against a replay of the log — every indexed message resolves to its record, every
/// live record is indexed, counters, subjects and the marker agree. Read-only; runs while a broker holds the
/// stream (it then compares against the index's last commit, and may report the broker's newest appends).
public enum StreamVerifier {
    /// `progress(bytesDone, bytesTotal)` is called after each frame batch.
    public static func verify(directory: String, fileSystem: any FileSystem = POSIXFileSystem(),
                              progress: ((Int64, Int64) -> Void)? = nil) throws -> VerificationReport {
        let paths = StreamPaths(root: directory)
        guard fileSystem.exists(paths.config) else { throw StoreError.notAStream(path: directory) }
        let scanner = LogScanner(paths: paths, fileSystem: fileSystem)
        let segments = try scanner.segments()
        let total = try scanner.totalBytes(segments)
        var report = VerificationReport()
        var replay = LogReplay(base: segments.first ?? 1)

        for (position, segment) in segments.enumerated() {
            let file = paths.segment(segment)
            let next = position + 1 < segments.count ? segments[position + 1] : UInt64.max
            report.segments += 1
            var lastEnd: Int64 = Int64(SegmentHeader.size)
            var pendingDamage: Int?
            try scanner.scan(segment: segment) { event in
                switch event {
                case .badHeader(let reason, let size):
                    report.findings.append(Finding(kind: .badSegmentHeader, file: file, offset: 0, length: size,
                                                   sequences: next == .max ? nil : segment...(next - 1), detail: reason))
                    lastEnd = size
                case .frame(let offset, let frame):
                    report.frames += 1
                    lastEnd = offset + Int64(frame.header.frameLength)
                    if let damaged = pendingDamage, let first = frame.entries.lazy.compactMap({ entry -> UInt64? in
                        if case .message(let view) = entry { return view.sequence } else { return nil }
                    }).first, first > max(replay.lastSequence, segment - 1) + 1 {
                        report.findings[damaged].sequences = (max(replay.lastSequence, segment - 1) + 1)...(first - 1)
                    }
                    pendingDamage = nil
                    for (recordIndex, entry) in frame.entries.enumerated() {
                        switch entry {
                        case .message(let view):
                            report.messageRecords += 1
                            if view.sequence < segment || view.sequence >= next || view.sequence <= replay.lastSequence && replay.lastSequence > 0 {
                                report.findings.append(Finding(kind: .sequenceOrder, file: file, offset: offset, length: nil,
                                                               sequences: view.sequence...view.sequence,
                                                               detail: "sequence \(view.sequence) after \(replay.lastSequence) in a segment for \(segment)..<\(next)"))
                                continue
                            }
                            let subject = frame.area.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[view.subjectRange]), as: UTF8.self) }
                            replay.add(sequence: view.sequence, timestamp: view.timestamp, subject: subject, size: view.accountedSize,
                                       location: MessageLocation(segment: segment, frameOffset: UInt64(offset), recordIndex: UInt32(recordIndex),
                                                                 accountedSize: UInt32(clamping: view.accountedSize), timestamp: view.timestamp, subjectID: 0))
                        case .removal(let ranges):
                            for range in ranges { replay.remove(range) }
                        }
                    }
                case .damage(let offset, let length, let reason, let atEnd):
                    report.findings.append(Finding(kind: atEnd ? .damagedTail : .damagedFrames, file: file, offset: offset, length: length,
                                                   sequences: nil, detail: reason))
                    pendingDamage = atEnd ? nil : report.findings.count - 1
                    if atEnd, next != .max, next > max(replay.lastSequence, segment - 1) + 1 {
                        report.findings[report.findings.count - 1].sequences = (max(replay.lastSequence, segment - 1) + 1)...(next - 1)
                    }
                    lastEnd = offset + length
                }
            }
            report.bytesRead += lastEnd
            progress?(report.bytesRead, total)
        }
        report.liveMessages = replay.liveCount
        compareIndex(paths: paths, segments: segments, replay: replay, report: &report)
        return report
    }

    /// Compares the index with the replayed log.
    private static func compareIndex(paths: StreamPaths, segments: [UInt64], replay: LogReplay, report: inout VerificationReport) {
        func mismatch(_ detail: String, _ sequences: ClosedRange<UInt64>? = nil) {
            if report.findings.count < 1000 {
                report.findings.append(Finding(kind: .indexMismatch, file: paths.index, offset: nil, length: nil, sequences: sequences, detail: detail))
            }
        }
        let index: IndexStore
        do { index = try IndexStore(path: paths.index, readOnly: true) } catch {
            report.findings.append(Finding(kind: .indexUnreadable, file: paths.index, offset: nil, length: nil, sequences: nil, detail: "\(error)"))
            return
        }
        do {
            try index.read { reader in
                guard let state = try reader.persistentState()?.stream else {
                    mismatch("the index has no stream state")
                    return
                }
                // Every indexed message is live in the log, at the same place.
                var indexed = 0
                try reader.txn.withCursor(index.sequences) { cursor in
                    var entry = try cursor.first()
                    while let current = entry {
                        let base = current.key.loadBE(UInt64.self, at: 0)
                        do {
                            guard current.key.count == 8, base == SequenceBlock.base(of: base) else {
                                throw StoreError.indexMismatch("sequence block key \(base) is not a multiple of \(SequenceBlock.span)")
                            }
                            var decoder = try SequenceBlockDecoder(base: base, raw: current.value)
                            while let (sequence, location) = try decoder.next() {
                                indexed += 1
                                if let expected = replay.location(sequence) {
                                    if expected.segment != location.segment || expected.frameOffset != location.frameOffset || expected.recordIndex != location.recordIndex {
                                        mismatch("sequence \(sequence) is indexed at segment \(location.segment) offset \(location.frameOffset) record \(location.recordIndex), the log has it at segment \(expected.segment) offset \(expected.frameOffset) record \(expected.recordIndex)", sequence...sequence)
                                    }
                                } else {
                                    mismatch("sequence \(sequence) is indexed but is not a live record of the log", sequence...sequence)
                                }
                            }
                        } catch let error as StoreError {
                            mismatch("\(error)", base...(base + SequenceBlock.span - 1))
                        }
                        entry = try cursor.next()
                    }
                }
                if indexed != replay.liveCount {
                    // Name the live records the index lacks (the first few).
                    var missing: [UInt64] = []
                    replay.forEachLive { sequence in
                        if missing.count < 10, (try? reader.location(sequence)) ?? nil == nil { missing.append(sequence) }
                    }
                    mismatch("the index holds \(indexed) messages, the log \(replay.liveCount) live ones" + (missing.isEmpty ? "" : "; not indexed: \(missing.map(String.init).joined(separator: ", "))"))
                }
                if state.messages != UInt64(replay.liveCount) { mismatch("state counts \(state.messages) messages, the log has \(replay.liveCount)") }
                if state.bytes != replay.bytes { mismatch("state counts \(state.bytes) bytes, the log \(replay.bytes)") }
                if replay.liveCount > 0 && state.firstSequence != replay.firstLive { mismatch("state's first sequence is \(state.firstSequence), the log's \(replay.firstLive)") }
                if state.lastSequence < replay.lastSequence { mismatch("state's last sequence \(state.lastSequence) is below the log's \(replay.lastSequence)") }
                // Subjects: counts and last sequences.
                var subjects = 0
                try reader.forEachSubject(matching: nil) { name, entry in
                    subjects += 1
                    let expected = replay.subjects[name]
                    if expected?.count != entry.count || expected?.last != entry.lastSequence {
                        mismatch("subject '\(name)': index has \(entry.count) messages up to \(entry.lastSequence), the log \(expected?.count ?? 0) up to \(expected?.last ?? 0)")
                    }
                    return true
                }
                if subjects != replay.subjects.count { mismatch("the index holds \(subjects) subjects, the log \(replay.subjects.count)") }
                // The subject index: every block decodes, and each sequence in it is held, of that subject.
                do {
                    var bySubject = 0
                    try reader.subjectSequences.forEachBlock { id, sequences in
                        bySubject += sequences.count
                        var held = 0
                        try reader.sequences.locations(of: sequences) { sequence, location in
                            held += 1
                            if location.subjectID != id { mismatch("sequence \(sequence) is in subject \(id)'s blocks but is of subject \(location.subjectID)", sequence...sequence) }
                        }
                        if held != sequences.count { mismatch("subject \(id)'s blocks hold \(sequences.count - held) sequences that are not held", sequences.first!...sequences.last!) }
                    }
                    if bySubject != indexed { mismatch("the subject index holds \(bySubject) sequences, the sequence index \(indexed)") }
                } catch let error as StoreError {
                    mismatch("\(error)")
                }
                if UInt64(subjects) != state.subjects { mismatch("state counts \(state.subjects) subjects, the index holds \(subjects)") }
                // Consumers' positions fit the stream.
                for record in try reader.consumers() {
                    if let problem = record.problem(lastSequence: max(state.lastSequence, replay.lastSequence)) {
                        report.findings.append(Finding(kind: .consumerState, file: paths.index, offset: nil, length: nil, sequences: nil,
                                                       detail: "consumer '\(record.name)': \(problem)"))
                    }
                }
                // The marker names a segment and lies within it.
                if let marker = try reader.marker() {
                    if !segments.contains(marker.segment) {
                        mismatch("the marker names segment \(marker.segment), which is not in the log")
                    } else if let size = try? POSIXFileSystem().open(paths.segment(marker.segment), create: false).size(), Int64(marker.endOffset) > size {
                        mismatch("the marker ends at \(marker.endOffset), past the end of segment \(marker.segment) (\(size) bytes)")
                    }
                }
            }
        } catch {
            report.findings.append(Finding(kind: .indexUnreadable, file: paths.index, offset: nil, length: nil, sequences: nil, detail: "\(error)"))
        }
    }
}

/// The stream's contents as a replay of its log gives them: live sequences with their locations, counters
/// and per-subject counts. Compact: arrays indexed by sequence.
struct LogReplay {
    let base: UInt64
    private var locations: [MessageLocation?] = []
    private var sizes: [UInt64] = []
    private var subjectOf: [String] = []
    private(set) var subjects: [String: (count: UInt64, last: UInt64)] = [:]
    private(set) var liveCount = 0
    private(set) var bytes: UInt64 = 0
    private(set) var lastSequence: UInt64 = 0

    init(base: UInt64) { self.base = base }

    mutating func add(sequence: UInt64, timestamp: Int64, subject: String, size: UInt64, location: MessageLocation) {
        guard sequence >= base else { return }
        let slot = Int(sequence - base)
        if slot >= locations.count {
            let grow = slot - locations.count + 1
            locations.append(contentsOf: repeatElement(nil, count: grow))
            sizes.append(contentsOf: repeatElement(0, count: grow))
            subjectOf.append(contentsOf: repeatElement("", count: grow))
        }
        if locations[slot] == nil { liveCount += 1; bytes += size }
        locations[slot] = location
        sizes[slot] = size
        subjectOf[slot] = subject
        subjects[subject, default: (0, 0)].count += 1
        subjects[subject]!.last = sequence
        lastSequence = max(lastSequence, sequence)
    }

    mutating func remove(_ range: ClosedRange<UInt64>) {
        let lower = max(range.lowerBound, base)
        guard lower <= range.upperBound, !locations.isEmpty else { return }
        let upper = min(range.upperBound, base + UInt64(locations.count) - 1)
        guard lower <= upper else { return }
        for sequence in lower...upper {
            let slot = Int(sequence - base)
            guard locations[slot] != nil else { continue }
            locations[slot] = nil
            liveCount -= 1
            bytes -= sizes[slot]
            let subject = subjectOf[slot]
            if var entry = subjects[subject] {
                entry.count -= 1
                if entry.count == 0 {
                    subjects[subject] = nil
                } else {
                    if entry.last == sequence {
                        // The subject's newest is gone: find its previous live message.
                        var previous = slot - 1
                        while previous >= 0 && !(locations[previous] != nil && subjectOf[previous] == subject) { previous -= 1 }
                        entry.last = previous >= 0 ? base + UInt64(previous) : 0
                    }
                    subjects[subject] = entry
                }
            }
        }
    }

    func location(_ sequence: UInt64) -> MessageLocation? {
        guard sequence >= base, sequence - base < UInt64(locations.count) else { return nil }
        return locations[Int(sequence - base)]
    }

    var firstLive: UInt64 {
        for (slot, location) in locations.enumerated() where location != nil { return base + UInt64(slot) }
        return 0
    }

    func forEachLive(_ body: (UInt64) -> Void) {
        for (slot, location) in locations.enumerated() where location != nil { body(base + UInt64(slot)) }
    }
}
