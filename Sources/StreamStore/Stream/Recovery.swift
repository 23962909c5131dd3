#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Zstd

/// The stream as recovery leaves it, ready for the writer.
struct Recovered {
    var index: IndexStore
    var report: RecoveryReport
    var segments: [UInt64]
    var active: any FileHandle
    var activeSize: Int64
    var state: StreamState
}

/// Opening a stream after a clean shutdown or a crash (Specs/Recovery.md): validate segments, resolve an
/// interrupted compaction, check the index's marker against the log, index the log past the marker (or
/// all of it, when the index must be rebuilt), cut a torn tail, and report every damaged region.
struct Recovery {
    let paths: StreamPaths
    let fileSystem: any FileSystem
    let config: StreamConfig
    let clock: @Sendable () -> Int64
    /// The last sequence is at least this (set by repair from the index it replaced).
    var sequenceFloor: UInt64 = 0

    private static let framesPerTransaction = 512

    func run() throws -> Recovered {
        do {
            return try recover()
        } catch let error as StoreError {
            throw error
        } catch let error as FileSystemError {
            throw StoreError.wrap(error)
        } catch {
            throw StoreError.indexMismatch("\(error)")
        }
    }

    private func recover() throws -> Recovered {
        var report = RecoveryReport()
        let names = try fileSystem.contentsOfDirectory(paths.segments)

        // The index: reopen it, or move a damaged one aside and start afresh.
        var index: IndexStore
        do {
            try fileSystem.createDirectory(paths.index)
            index = try IndexStore(path: paths.index)
            _ = try index.read { try $0.persistentState() }
        } catch {
            let aside = paths.root + "/index.damaged.\(clock())"
            try fileSystem.rename(paths.index, to: aside)
            try fileSystem.createDirectory(paths.index)
            index = try IndexStore(path: paths.index)
            report.indexRebuiltBecause = "index could not be read (\(error)); moved to \(aside)"
        }

        // An interrupted compaction: finish it if its index change committed, else roll it back.
        let compacting = try index.read { try $0.compacting() }
        for name in names where name.hasSuffix(".seg.compact") {
            guard let segment = UInt64(name.prefix(20)) else { continue }
            if segment == compacting {
                try fileSystem.rename(paths.compactionOutput(segment), to: paths.segment(segment))
                report.compactionResolved = "completed the compaction of segment \(segment)"
            } else {
                try fileSystem.remove(paths.segments + "/" + name)
                report.compactionResolved = "rolled back an unfinished compaction of segment \(segment)"
            }
        }
        if compacting != nil {
            try index.write { writer in try writer.setCompacting(nil) }
        }
        if report.compactionResolved != nil {
            try fileSystem.syncDirectory(paths.segments)
            try index.checkpoint()
        }

        // Segments and their headers.
        let (persisted, marker) = try index.read { reader in (try reader.persistentState(), try reader.marker()) }
        var segments = try validSegments(report: &report, persisted: persisted)

        // Where to start indexing: past the marker, or from the start when the index must be rebuilt.
        var rebuild = report.indexRebuiltBecause
        var start: (segment: UInt64, offset: Int64)?
        if rebuild == nil, let marker, persisted != nil {
            if let why = try markerMismatch(marker, segments: segments) {
                rebuild = why
            } else {
                start = (marker.segment, Int64(marker.endOffset))
            }
        } else if rebuild == nil, marker == nil, let persisted, persisted.stream.lastSequence == 0, persisted.stream.messages == 0 {
            // Nothing was ever stored (a new stream, opened and closed): no frame was indexed, so there is no
            // marker yet. The log is read from its start; it holds no frame unless a crash came between a
            // first frame's write and its commit, and then that frame is indexed as after any crash.
            start = (segments[0], Int64(SegmentHeader.size))
        } else if rebuild == nil && (persisted != nil || marker != nil) {
            rebuild = "index state is incomplete"
        }
        let priorLast = persisted?.stream.lastSequence ?? 0
        // How much of the marker's segment is there, before a torn tail is cut: below the marker's
        // `unsyncedFrom` every frame was synced (and may have been acknowledged), so less than that is loss.
        var syncedShortfall: (segment: UInt64, present: Int64, synced: Int64)?
        if case .always = config.sync, let marker, persisted != nil {
            let present = segments.contains(marker.segment) ? try fileSystem.open(paths.segment(marker.segment), create: false).size() : 0
            if present < Int64(marker.unsyncedFrom) { syncedShortfall = (marker.segment, present, Int64(marker.unsyncedFrom)) }
        }
        // (a log that is long enough but whose synced frames were cut as a torn tail: known after the scan)
        func markerSegmentShortfall(report: RecoveryReport) -> (segment: UInt64, present: Int64, synced: Int64)? {
            guard case .always = config.sync, let marker, persisted != nil, let tail = report.truncatedTail,
                  tail.file == paths.segment(marker.segment), tail.offset < Int64(marker.unsyncedFrom) else { return nil }
            return (marker.segment, tail.offset, Int64(marker.unsyncedFrom))
        }
        if rebuild != nil || start == nil {
            try index.write { writer in try writer.clear() }
        }
        report.indexRebuiltBecause = rebuild

        try scan(from: start ?? (segments[0], Int64(SegmentHeader.size)), segments: &segments, index: index, report: &report)
        if start == nil && rebuild == nil && report.messagesIndexed > 0 {
            report.indexRebuiltBecause = "index was missing"
        }

        // Sequences never go back: not below what the index knew, nor below the active segment's name.
        let activeFirst = segments.last!
        var saved = false
        let state: StreamState = try index.write { writer in
            let loaded = writer.state
            if var shortfall = syncedShortfall ?? markerSegmentShortfall(report: report), writer.state.stream.lastSequence < priorLast {
                if let tail = report.truncatedTail, tail.file == paths.segment(shortfall.segment) { shortfall.present = min(shortfall.present, tail.offset) }
                let found = writer.state.stream.lastSequence
                report.damagedRegions.append(RecoveryReport.DamagedRegion(
                    file: paths.segment(shortfall.segment), offset: shortfall.present, length: shortfall.synced - shortfall.present,
                    lostSequences: (found + 1)...priorLast,
                    reason: shortfall.present == 0 && !segments.contains(shortfall.segment)
                        ? "segment \(shortfall.segment), which held synced messages, is missing"
                        : "the log ends at \(shortfall.present), before the \(shortfall.synced) bytes the index knew were synced"))
            }
            let floor = max(priorLast, activeFirst - 1, sequenceFloor)
            if writer.state.stream.lastSequence < floor {
                writer.state.stream.lastSequence = floor
                if writer.state.stream.messages == 0 { writer.state.stream.firstSequence = floor + 1 }
            }
            // Unchanged (a clean open): nothing is written, so the open dirties no page and needs no sync.
            if persisted == nil || writer.state != loaded {
                try writer.save(marker: nil)
                saved = true
            }
            return writer.state.stream
        }
        // (`writes` counts this recovery's write transactions, the one above included: more were the scan's,
        // a rebuild's or a compaction's)
        if saved || index.writes > 1 || !report.isClean { try index.checkpoint() }

        let active = try fileSystem.open(paths.segment(activeFirst), create: false)
        return Recovered(index: index, report: report, segments: segments, active: active, activeSize: try active.size(), state: state)
    }

    /// The segments whose headers check out, in order. A damaged header costs its segment (reported);
    /// an active segment whose header is torn or damaged is set aside and begun again.
    private func validSegments(report: inout RecoveryReport, persisted: PersistentState?) throws -> [UInt64] {
        let all = try fileSystem.contentsOfDirectory(paths.segments).compactMap(SegmentHeader.firstSequence(fileName:)).sorted()
        var valid: [UInt64] = []
        var changed = false  // a header written or a file moved aside: the directory is synced
        for (i, segment) in all.enumerated() {
            let handle = try fileSystem.open(paths.segment(segment), create: false)
            let size = try handle.size()
            // (try?: a header that cannot be read is handled below as a damaged one)
            let header = try? SegmentHeader.decode(handle.read(count: SegmentHeader.size, at: 0))
            if header?.firstSequence == segment { valid.append(segment); continue }
            let isLast = i == all.count - 1
            let next = isLast ? nil : all[i + 1]
            if isLast && size <= Int64(SegmentHeader.size) {
                // Torn while being created: nothing was in it.
                try StreamFiles.writeSegmentHeader(fileSystem: fileSystem, path: paths.segment(segment), firstSequence: segment)
                changed = true
                report.truncatedTail = (paths.segment(segment), 0, size)
                valid.append(segment)
                continue
            }
            let aside = paths.segment(segment) + ".damaged"
            try fileSystem.rename(paths.segment(segment), to: aside)
            changed = true
            report.damagedRegions.append(.init(file: aside, offset: 0, length: size,
                                               lostSequences: next.map { segment...($0 - 1) },
                                               reason: "segment header is damaged; file moved aside"))
            if isLast {
                try StreamFiles.writeSegmentHeader(fileSystem: fileSystem, path: paths.segment(segment), firstSequence: segment)
                valid.append(segment)
            }
        }
        if valid.isEmpty {
            let first = (persisted?.stream.lastSequence ?? 0) + 1
            try StreamFiles.writeSegmentHeader(fileSystem: fileSystem, path: paths.segment(first), firstSequence: first)
            valid.append(first)
            changed = true
        }
        if changed { try fileSystem.syncDirectory(paths.segments) }
        return valid
    }

    /// Why the marker cannot be trusted, or nil when it matches the log.
    private func markerMismatch(_ marker: IndexMarker, segments: [UInt64]) throws -> String? {
        guard segments.contains(marker.segment) else { return "index marker names segment \(marker.segment), which is not in the log" }
        let handle = try fileSystem.open(paths.segment(marker.segment), create: false)
        let size = try handle.size()
        if Int64(marker.endOffset) > size {
            return "index covers \(paths.segment(marker.segment)) up to \(marker.endOffset), past its end (\(size))"
        }
        if marker.lastFrameCRC != 0 {
            let header = try handle.read(count: FrameHeader.size, at: Int64(marker.lastFrameOffset))
            let crc = header.count == FrameHeader.size ? header.withUnsafeBytes { $0.loadLE(UInt32.self, at: 28) } : 0
            if crc != marker.lastFrameCRC { return "the last frame the index covers is not in the log" }
        }
        // Frames indexed before their sync returned (pipelined batches): after a power cut the index may
        // have reached the disk without them, so each must be whole.
        var offset = Int64(marker.unsyncedFrom)
        let decompressor = Decompressor()
        let dictionaries = FrameDictionaries(directory: paths.dictionaries, fileSystem: fileSystem)
        while offset < Int64(marker.endOffset) {
            let frame: DecodedFrame?
            do {
                frame = try DecodedFrame.read(from: handle, at: offset, decompressor: decompressor, dictionaries: dictionaries)
            } catch {
                return "a frame the index covers, written before its sync returned, is damaged at \(paths.segment(marker.segment)):\(offset) (\(error))"
            }
            guard let frame else { return "a frame the index covers, written before its sync returned, is missing at \(paths.segment(marker.segment)):\(offset)" }
            offset += Int64(frame.header.frameLength)
        }
        if offset != Int64(marker.endOffset) { return "the frames written before their sync returned do not end where the index says" }
        return nil
    }

    /// Indexes every valid frame from `start` to the end of the log.
    private func scan(from start: (segment: UInt64, offset: Int64), segments: inout [UInt64], index: IndexStore,
                      report: inout RecoveryReport) throws {
        let decompressor = Decompressor()
        let dictionaries = FrameDictionaries(directory: paths.dictionaries, fileSystem: fileSystem)
        guard let first = segments.firstIndex(of: start.segment) else { return }
        var lastSeen = try index.read { try $0.persistentState()?.stream.lastSequence } ?? 0
        for position in first..<segments.count {
            let segment = segments[position]
            let isLast = position == segments.count - 1
            let handle = try fileSystem.open(paths.segment(segment), create: false)
            var size = try handle.size()
            var offset = position == first ? start.offset : Int64(SegmentHeader.size)
            lastSeen = max(lastSeen, segment - 1)
            var pending: [(Int64, DecodedFrame)] = []
            func flush() throws {
                guard let last = pending.last else { return }
                // The frames may be only in the page cache (a process crash with sync `none` or `interval`,
                // or a pipelined batch): on disk before the index says they are indexed and synced.
                try handle.sync()
                try index.write { writer in
                    for (frameOffset, frame) in pending {
                        try Recovery.index(frame, segment: segment, offset: frameOffset, writer: &writer)
                    }
                    try writer.save(marker: IndexMarker(segment: segment, lastFrameOffset: UInt64(last.0),
                                                        endOffset: UInt64(last.0) + UInt64(last.1.header.frameLength),
                                                        lastFrameCRC: last.1.header.crc))
                }
                pending.removeAll(keepingCapacity: true)
            }
            while offset < size {
                do {
                    guard let frame = try DecodedFrame.read(from: handle, at: offset, decompressor: decompressor, dictionaries: dictionaries) else { break }
                    if offset + Int64(frame.header.frameLength) > size { throw StoreError.corrupt(file: handle.path, offset: offset, .truncated(needed: 0, available: 0)) }
                    pending.append((offset, frame))
                    report.framesIndexed += 1
                    for entry in frame.entries {
                        if case .message(let view) = entry { report.messagesIndexed += 1; lastSeen = max(lastSeen, view.sequence) }
                    }
                    offset += Int64(frame.header.frameLength)
                    if pending.count >= Recovery.framesPerTransaction { try flush() }
                } catch let StoreError.corrupt(_, _, why) {
                    // Zeros to the end: the writer's preallocated space, not damage (the log ends here).
                    if Preallocation.isZeroTail(handle, from: offset, size: size) {
                        try flush()
                        try handle.truncate(to: offset)
                        try handle.sync()
                        size = offset
                        break
                    }
                    if let (next, nextFrame) = try resynchronize(handle, after: offset, size: size, decompressor: decompressor, dictionaries: dictionaries) {
                        let nextSequence = nextFrame.entries.lazy.compactMap { entry -> UInt64? in
                            if case .message(let view) = entry { return view.sequence } else { return nil }
                        }.first
                        let lost = nextSequence.flatMap { $0 > lastSeen + 1 ? (lastSeen + 1)...($0 - 1) : nil }
                        report.damagedRegions.append(.init(file: handle.path, offset: offset, length: next - offset,
                                                           lostSequences: lost, reason: why.description))
                        offset = next
                    } else if isLast {
                        try flush()
                        try handle.truncate(to: offset)
                        try handle.sync()
                        report.truncatedTail = (handle.path, offset, size - offset)
                        size = offset
                    } else {
                        let nextSegment = segments[position + 1]
                        let lost = nextSegment > lastSeen + 1 ? (lastSeen + 1)...(nextSegment - 1) : nil
                        report.damagedRegions.append(.init(file: handle.path, offset: offset, length: size - offset,
                                                           lostSequences: lost, reason: why.description))
                        break
                    }
                }
            }
            try flush()
        }
    }

    /// The next offset after `offset` where a valid frame starts, with that frame.
    private func resynchronize(_ handle: any FileHandle, after offset: Int64, size: Int64,
                               decompressor: Decompressor, dictionaries: FrameDictionaries) throws -> (Int64, DecodedFrame)? {
        guard size > offset + 1 else { return nil }
        let rest = try handle.read(count: Int(size - offset - 1), at: offset + 1)
        let magic: [UInt8] = [0x53, 0x46, 0x52, 0x4D]
        var i = 0
        while i + FrameHeader.size <= rest.count {
            if rest[i] == magic[0] && rest[i + 1] == magic[1] && rest[i + 2] == magic[2] && rest[i + 3] == magic[3] {
                let candidate = offset + 1 + Int64(i)
                // (try?: probing for the next valid frame: an unreadable candidate is simply not one)
                if let frame = try? DecodedFrame.read(from: handle, at: candidate, decompressor: decompressor, dictionaries: dictionaries),
                   candidate + Int64(frame.header.frameLength) <= size {
                    return (candidate, frame)
                }
            }
            i += 1
        }
        return nil
    }

    /// Applies one frame's records to the index (messages above the last indexed sequence, removals).
    static func index(_ frame: DecodedFrame, segment: UInt64, offset: Int64, writer: inout IndexWriter) throws {
        try frame.area.withUnsafeBytes { area in
            for (recordIndex, entry) in frame.entries.enumerated() {
                switch entry {
                case .message(let view):
                    guard view.sequence > writer.state.stream.lastSequence else { continue }
                    try writer.insert(sequence: view.sequence, timestamp: view.timestamp,
                                      subject: UnsafeRawBufferPointer(rebasing: area[view.subjectRange]),
                                      messageID: UnsafeRawBufferPointer(rebasing: area[view.messageIDRange]),
                                      accountedSize: view.accountedSize, segment: segment,
                                      frameOffset: UInt64(offset), recordIndex: UInt32(recordIndex))
                case .removal(let ranges):
                    for range in ranges { try writer.remove(range: range) }
                }
            }
        }
    }
}
