import Zstd
import LMDB

/// Compaction of sealed segments, crash-safe at every step (Specs/Recovery.md, "Compaction"):
/// write `<seg>.compact` and sync it → commit the new locations with `meta/compacting` in one index
/// transaction and checkpoint → rename over the old file and sync the directory → clear the flag.
/// Recovery completes the swap if the index change committed, and deletes the output if it did not.
/// Readers never see a half-applied swap: the commit, rename and cache invalidation run holding the
/// readers' swap gate exclusively (``SegmentReaders/swapGate``).
extension StreamWriter {
    func compactSealedSegments(_ options: CompactionOptions) throws -> CompactionReport {
        try ensureWritable()
        var report = CompactionReport()
        do {
            for segment in segments.dropLast() { try compact(segment: segment, options: options, report: &report) }
        } catch let error as StoreError {
            throw error
        } catch let error as FileSystemError {
            throw StoreError.wrap(error)
        } catch {
            throw StoreError.indexMismatch("\(error)")
        }
        return report
    }

    /// The sequences sealed segment `segment` may hold, and those of every other segment (the active one's
    /// reaching to the end of sequence space).
    func ranges(of segment: UInt64) -> (own: ClosedRange<UInt64>, others: [ClosedRange<UInt64>]) {
        let position = segments.firstIndex(of: segment)!
        func range(_ i: Int) -> ClosedRange<UInt64> { segments[i]...(i + 1 < segments.count ? segments[i + 1] - 1 : .max) }
        return (range(position), segments.indices.filter { $0 != position }.map(range))
    }

    /// Compacts one sealed segment: drops its removed records (deletes it when nothing is left) and
    /// recompresses what stays. Returns how many messages it still holds.
    @discardableResult
    func compact(segment: UInt64, options: CompactionOptions, report: inout CompactionReport) throws -> UInt64 {
        let (range, otherRanges) = ranges(of: segment)
        let path = paths.segment(segment)
        let handle = try fileSystem.open(path, create: false)
        let size = try handle.size()
        report.bytesBefore += size

        // Read every frame; keep live messages and the removals still needed by other segments.
        let decompressor = Decompressor()
        var live: [StoredMessage] = []
        var keptRemovals: [ClosedRange<UInt64>] = []
        var dropped = 0
        var frames = 0
        var offset = Int64(SegmentHeader.size)
        let held: Set<UInt64> = try index.read { reader in
            var sequences = Set<UInt64>()
            try reader.sequences.walk(from: range.lowerBound) { sequence, location in
                guard sequence <= range.upperBound else { return false }
                if location.segment == segment { sequences.insert(sequence) }
                return true
            }
            return sequences
        }
        while offset < size, let frame = try DecodedFrame.read(from: handle, at: offset, decompressor: decompressor, dictionaries: readers.dictionaries) {
            frames += 1
            for (i, entry) in frame.entries.enumerated() {
                switch entry {
                case .message(let view):
                    if held.contains(view.sequence), let message = frame.message(at: i) { live.append(message) } else { dropped += 1 }
                case .removal(let ranges):
                    for removal in ranges {
                        if otherRanges.contains(where: { $0.overlaps(removal) }) { keptRemovals.append(removal) } else { dropped += 1 }
                    }
                }
            }
            offset += Int64(frame.header.frameLength)
        }
        let averageFrame = frames > 0 ? (size - Int64(SegmentHeader.size)) / Int64(frames) : 0
        let repack = averageFrame < Int64(options.frameBytes / 8)
        if dropped == 0 && !options.rewriteAll && !repack {
            report.bytesAfter += size
            liveAfterCompaction[segment] = UInt64(live.count)
            return UInt64(live.count)
        }

        if live.isEmpty && keptRemovals.isEmpty {
            // Nothing in it is needed, by the index or by a replay of the log.
            try readers.swapGate.withExclusive {
                try fileSystem.remove(path)
                readers.invalidate(segment)
            }
            segments.removeAll { $0 == segment }
            try fileSystem.syncDirectory(paths.segments)
            liveAfterCompaction[segment] = nil
            report.segmentsRemoved += 1
            report.recordsDropped += dropped
            return 0
        }

        // Write the replacement: removals first, then the live messages in frames of `frameBytes`.
        // A failure before the swap leaves the stream as it was: the partial output is removed (and would
        // be by recovery on open, were this removal to fail too).
        let output = paths.compactionOutput(segment)
        var outputComplete = false
        defer { if !outputComplete { try? fileSystem.remove(output) } }
        let out = try fileSystem.open(output, create: true)
        try out.truncate(to: 0)
        try out.write(SegmentHeader(firstSequence: segment).encoded(), at: 0)
        var writeOffset = Int64(SegmentHeader.size)
        let compressor = Compressor(level: options.level)
        var newLocations: [(UInt64, UInt64, UInt32)] = []
        var area: [UInt8] = []
        var pendingLocations: [(UInt64, UInt32)] = []
        var recordCount = 0
        func flush() throws {
            guard recordCount > 0 else { return }
            let frame = try Frame.encode(recordArea: area, recordCount: recordCount, compressor: compressor)
            try out.write(frame, at: writeOffset)
            for (sequence, recordIndex) in pendingLocations { newLocations.append((sequence, UInt64(writeOffset), recordIndex)) }
            writeOffset += Int64(frame.count)
            area.removeAll(keepingCapacity: true)
            pendingLocations.removeAll(keepingCapacity: true)
            recordCount = 0
        }
        if !keptRemovals.isEmpty {
            Record.appendRemoval(keptRemovals, to: &area)
            recordCount += 1
        }
        for message in live {
            Record.message(message).encode(to: &area)
            pendingLocations.append((message.sequence, UInt32(recordCount)))
            recordCount += 1
            if area.count >= options.frameBytes || recordCount >= FrameHeader.maxRecords - 1 { try flush() }
        }
        try flush()
        try out.sync()
        try fileSystem.syncDirectory(paths.segments)
        outputComplete = true

        // Swap the locations in, with the compacting flag, in one transaction; then the file. Readers wait
        // for both (a reader's retry holds the gate shared). If the rename fails, the old locations are
        // put back (the stream is as before, the output removed); if that fails too, or anything after the
        // rename does, the stream is poisoned and recovery completes the swap from the flag.
        var oldLocations: [(UInt64, MessageLocation)] = []
        var committed = false, renamed = false
        do {
            try readers.swapGate.withExclusive {
                try index.write { writer in
                    oldLocations.removeAll()
                    for (sequence, frameOffset, recordIndex) in newLocations {
                        guard var location = try writer.reader.location(sequence) else { continue }
                        oldLocations.append((sequence, location))
                        location.frameOffset = frameOffset
                        location.recordIndex = recordIndex
                        try writer.relocate(sequence, to: location)
                    }
                    try writer.setCompacting(segment)
                }
                committed = true
                try index.checkpoint()
                try fileSystem.rename(output, to: path)
                renamed = true
                readers.invalidate(segment)
            }
            try fileSystem.syncDirectory(paths.segments)
            try index.write { writer in try writer.setCompacting(nil) }
        } catch {
            if committed && !renamed, options.rollBackFailedSwap, (try? rollBack(oldLocations)) != nil {
                outputComplete = false  // removed by the defer: the stream is as it was
                throw error
            }
            if failure == nil {
                failure = .needsRecovery("compaction of segment \(segment) failed while swapping it in (\(StoreError.wrap(error))); reopen the stream to complete it")
            }
            throw error
        }

        report.segmentsRewritten += 1
        report.recordsDropped += dropped
        report.bytesAfter += writeOffset
        liveAfterCompaction[segment] = UInt64(live.count)
        return UInt64(live.count)
    }

    /// Puts back the locations a compaction's index commit replaced, and clears its flag (a failed rename:
    /// the old file is still the segment). Under the readers' gate, as the swap was.
    private func rollBack(_ locations: [(UInt64, MessageLocation)]) throws {
        try readers.swapGate.withExclusive {
            try index.write { writer in
                for (sequence, location) in locations { try writer.relocate(sequence, to: location) }
                try writer.setCompacting(nil)
            }
        }
    }
}
