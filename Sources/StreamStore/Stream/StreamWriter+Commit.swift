#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
import Dispatch
#else
import Foundation
#endif
import Zstd

/// What one frame write left: the new state, the ranges it removed, and for a pipelined batch where its
/// frames are (their sync is the pipeline's).
struct FrameWrite {
    var state: StreamState
    var removed: [ClosedRange<UInt64>]
    var pipelined: SyncPipeline.Frames?
}

/// The write path (Specs/WritePath.md): one frame, one write, one sync and one index transaction per batch.
extension StreamWriter {
    /// Commits a batch of appends: its frames, one write, one sync, one index transaction. With sync
    /// `always`, a batch that removes nothing is pipelined when there is more to do meanwhile (`moreFollows`
    /// in this take, work queued, or syncs outstanding): it is completed by the sync pipeline once its frames
    /// are durable, while the writer goes on. A lone batch is synced here, without a hand-over to another
    /// thread on its way to the ack.
    func commit(_ batch: [PendingAppend], moreFollows: Bool) {
        var results = [Result<AppendResult, StoreError>?](repeating: nil, count: batch.count)
        let startedAt = DispatchTime.now().uptimeNanoseconds
        let statistics = shared.statistics
        do {
            try ensureWritable()
            if config.sync == .always { pipeline.waitForRoom() }
            let now = clock()
            let config = self.config
            var lastID = lastMessageID
            let written = try withFrameWrite(pipelining: moreFollows || queue.hasPending || pipeline.isBusy) { (writer: inout IndexWriter, frames: inout FrameBuilder, segment: UInt64) in
                lastID = lastMessageID  // the body may run again (index map growth): start from the committed id
                for i in batch.indices {  // (indices: no generic copy of each pending append)
                    let request = batch[i].request
                    let size = batch[i].size
                    do {
                        try Retention.admit(content: request.headers.count + request.payload.count, config: config, state: writer.state.stream)
                    } catch {
                        results[i] = .failure(StoreError.wrap(error))
                        continue
                    }
                    if config.duplicateWindow > 0, let id = request.messageID,
                       let original = try writer.reader.messageID(id), original.timestamp >= now - config.duplicateWindow {
                        results[i] = .success(AppendResult(sequence: original.sequence, timestamp: original.timestamp, duplicate: true))
                        continue
                    }
                    if let expected = request.expectations.lastSequence, expected != writer.state.stream.lastSequence {
                        results[i] = .failure(.wrongLastSequence(actual: writer.state.stream.lastSequence))
                        continue
                    }
                    if let expected = request.expectations.lastSubjectSequence {
                        let actual = try writer.subjectEntry(request.subject)?.lastSequence ?? 0
                        if actual != expected {
                            results[i] = .failure(.wrongLastSubjectSequence(actual: actual))
                            continue
                        }
                    }
                    if let expected = request.expectations.lastMessageID, expected != lastID {
                        results[i] = .failure(.wrongLastMessageID(actual: lastID))
                        continue
                    }
                    let sequence = request.sequence ?? writer.state.stream.lastSequence + 1
                    if sequence <= writer.state.stream.lastSequence {
                        results[i] = .failure(.wrongLastSequence(actual: writer.state.stream.lastSequence))
                        continue
                    }
                    let timestamp = request.timestamp ?? max(now, writer.state.stream.lastTimestamp)
                    let (frameOffset, recordIndex) = frames.position
                    var subject = request.subject
                    var id = request.messageID ?? ""
                    try subject.withUTF8 { s in
                        try id.withUTF8 { m in
                            try writer.insert(sequence: sequence, timestamp: timestamp, subject: UnsafeRawBufferPointer(s),
                                              messageID: UnsafeRawBufferPointer(m), accountedSize: size,
                                              segment: segment, frameOffset: UInt64(frameOffset), recordIndex: UInt32(recordIndex))
                        }
                    }
                    try frames.append { area in
                        Record.appendMessage(sequence: sequence, timestamp: timestamp, subject: request.subject, messageID: request.messageID,
                                             headers: request.headers, payload: request.payload, to: &area)
                    }
                    switch request.rollup {
                    case .subject?:
                        while let info = try writer.subjectInfo(request.subject), info.oldest < sequence {
                            try writer.remove(range: info.oldest...info.oldest)
                        }
                    case .all?:
                        if writer.state.stream.firstSequence < sequence { try writer.remove(range: writer.state.stream.firstSequence...(sequence - 1)) }
                    case nil:
                        break
                    }
                    try Retention.enforce(afterAppendingTo: request.subject, config: config, target: &writer)
                    results[i] = .success(AppendResult(sequence: sequence, timestamp: timestamp, duplicate: false))
                    lastID = request.messageID ?? ""
                }
            }
            if written != nil { lastMessageID = lastID }
            if written?.pipelined != nil || (written == nil && pipeline.isBusy) {
                // Completed after its sync, or (nothing written: duplicates, refusals) after the batches
                // before it, whose messages a duplicate may name.
                let finished = results
                pipeline.submit(SyncPipeline.Ticket(frames: written?.pipelined, state: state) { failure in
                    statistics.batchCompleted(messages: batch.count, startedAt: startedAt)
                    for i in batch.indices {
                        var result = finished[i]!
                        if let failure, case .success = result { result = .failure(failure) }
                        batch[i].completion(result)
                    }
                })
                return
            }
            if let written { publish(state: written.state, removed: written.removed) }
        } catch {
            // The index transaction was aborted and the file cut back: nothing of the batch was stored.
            for i in results.indices {
                if case .failure? = results[i] { continue }
                results[i] = .failure(StoreError.wrap(error))
            }
        }
        statistics.batchCompleted(messages: batch.count, startedAt: startedAt)
        for i in batch.indices { batch[i].completion(results[i]!) }
    }

    /// Runs index changes that only remove messages, writing their removal record as a frame.
    func writeRemovals<T>(_ body: (inout IndexWriter) throws -> T) throws -> T {
        try ensureWritable()
        var output: T?
        let written = try withFrameWrite(pipelining: false) { (writer: inout IndexWriter, _: inout FrameBuilder, _: UInt64) in
            output = try body(&writer)
        }
        if let written { publish(state: written.state, removed: written.removed) }
        return output!
    }

    /// The shared write protocol: roll the segment if it is full; then, in one index transaction, let
    /// `build` add records (through the frame builder) and index changes, append the removal record they
    /// imply, write the frames with one `pwrite`, sync per policy, move the marker, and commit. On any
    /// failure the index transaction is aborted and the file cut back, so the stream is as it was.
    /// Returns the new state and the ranges removed, or nil when nothing was written. A failed sync also
    /// poisons the stream (``failure``): see ``syncNow()``. With `pipelining`, sync `always` and nothing
    /// removed, the frames are not synced here: the caller hands them to the pipeline (``FrameWrite/pipelined``).
    /// Sets ``state``; publishing it is the caller's (or, pipelined, the pipeline's).
    private func withFrameWrite(pipelining: Bool, _ build: (inout IndexWriter, inout FrameBuilder, UInt64) throws -> Void) throws -> FrameWrite? {
        try rollIfNeeded()
        let offset = activeSize
        let segment = activeFirst
        var wroteBytes = false
        do {
            let written: (StreamState, Int, [[UInt8]]?, [ClosedRange<UInt64>], Bool)? = try index.write { writer in
                var frames = FrameBuilder(baseOffset: offset, frameBytes: config.frameBytes, compressor: compressor,
                                          dictionary: compressor == nil ? nil : dictionary)
                if compressor != nil && dictionary == nil && !dictionaryFailed { frames.samples = [] }
                try build(&writer, &frames, segment)
                if !writer.removed.isEmpty {
                    let ranges = writer.removed.ranges
                    try frames.append { Record.appendRemoval(ranges, to: &$0) }
                }
                try frames.closeFrame()
                guard let last = frames.lastFrame else { return nil }
                wroteBytes = true
                let pipelined = pipelining && config.sync == .always && writer.removed.isEmpty
                if config.sync == .always { try preallocate(through: offset + Int64(frames.encoded.count)) }
                try active.write(frames.encoded, at: offset)
                shared.statistics.wrote(bytes: frames.encoded.count)
                var unsyncedFrom: UInt64?
                if pipelined {
                    unsyncedFrom = UInt64(min(pipeline.unsyncedFrom(segment: segment) ?? offset, offset))
                } else if config.sync == .always {
                    try syncLog()
                    // The pipeline's batches lie before this frame, so this sync made them durable; its
                    // states are published before this one.
                    pipeline.drain()
                    if let failed = pipeline.failure { throw failed }
                }
                try writer.save(marker: IndexMarker(segment: segment, lastFrameOffset: UInt64(last.offset),
                                                    endOffset: UInt64(offset) + UInt64(frames.encoded.count), lastFrameCRC: last.crc,
                                                    unsyncedFrom: unsyncedFrom))
                return (writer.state.stream, frames.encoded.count, frames.samples, writer.removed.ranges, pipelined)
            }
            guard let (state, length, samples, removed, pipelined) = written else { return nil }
            activeSize = offset + Int64(length)
            self.state = state
            if config.sync != .always { unsynced = true }
            if let samples { learnDictionary(from: samples) }
            removedSinceReclaim += removed.reduce(0) { $0 + $1.upperBound - $1.lowerBound + 1 }
            if let low = removed.first?.lowerBound, let high = removed.last?.upperBound {
                removedSinceIndexCheck = true
                reclaimSpan = min(reclaimSpan?.lowerBound ?? low, low)...max(reclaimSpan?.upperBound ?? high, high)
            }
            return FrameWrite(state: state, removed: removed,
                              pipelined: pipelined ? SyncPipeline.Frames(segment: segment, handle: active, start: offset, end: activeSize) : nil)
        } catch {
            if wroteBytes { cutBack(to: offset) }
            throw error
        }
    }

    /// Gathers record areas until there are 32 KiB of them, then makes the stream's dictionary: trained by
    /// zstd when the samples allow, else their last 16 KiB as a raw-content dictionary. It is stored before
    /// any frame names it; frames written before keep none. A failure to store it only means no dictionary.
    private func learnDictionary(from samples: [[UInt8]]) {
        for sample in samples {
            // A copy of exactly its bytes: the sample shares the frame builder's buffer, whose capacity is a
            // whole frame (kept, a stream of one-message frames would hold a frame's capacity per message).
            let count = min(sample.count, 16 << 10)
            dictionarySamples.append([UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                _ = buffer.initialize(from: sample.prefix(count))
                initialized = count
            })
            dictionarySampleBytes += count
        }
        guard dictionarySampleBytes >= 32 << 10 else { return }
        var bytes: [UInt8]
        // (try?: training can refuse unsuitable samples: the raw-content dictionary is the fallback)
        if dictionarySamples.count >= 16, let trained = try? Dictionary.train(samples: dictionarySamples, capacity: 16 << 10) {
            bytes = trained.bytes
        } else {
            bytes = Array(dictionarySamples.joined().suffix(16 << 10))
        }
        dictionarySamples = []
        dictionarySampleBytes = 0
        do {
            dictionary = try readers.dictionaries.add(bytes)
        } catch {
            dictionaryFailed = true
        }
    }

    /// Cuts the active segment back to `offset` after a failed write; if even that fails the stream
    /// refuses writes until reopened (recovery will cut the tail).
    private func cutBack(to offset: Int64) {
        do {
            try active.truncate(to: offset)
            activeSize = offset
            allocatedEnd = offset
        } catch {
            failure = .needsRecovery("could not cut back \(active.path) after a failed write: \(error)")
        }
    }

    /// Zeroes space ahead of the log so that the frames up to `end` overwrite bytes the file already has.
    private func preallocate(through end: Int64) throws {
        guard end > allocatedEnd else { return }
        let target = max(end, allocatedEnd + Preallocation.extent(activeSize: activeSize))
        do {
            try active.write([UInt8](repeating: 0, count: Int(target - allocatedEnd)), at: allocatedEnd)
            allocatedEnd = target
        } catch where target > end {
            // The extent is a speed-up: on a file system too full for it (up to 4 MiB), zero only what these
            // frames need, so that a disk with room for the frames keeps taking them.
            try active.write([UInt8](repeating: 0, count: Int(end - allocatedEnd)), at: allocatedEnd)
            allocatedEnd = end
        }
    }

    func ensureWritable() throws {
        absorbPipelineFailure()
        if let failure { throw failure }
    }

    /// After a failed pipelined sync: the stream is poisoned, and the log is cut back to the oldest failed
    /// batch (the durable end), so that the failed batches are not in it when it is reopened.
    func absorbPipelineFailure() {
        guard let failed = pipeline.failure else { return }
        if failure == nil { failure = failed }
        if let cut = pipeline.takeCut(), cut.segment == activeFirst, cut.offset < activeSize { cutBack(to: cut.offset) }
    }

    /// Seals the active segment once it has reached the segment size and begins the next one.
    /// `force`: seal it whatever its size (reclamation, when every message of the stream is removed, so
    /// that the sealed segment can be deleted).
    func rollIfNeeded(force: Bool = false) throws {
        // A segment is named by the first sequence it may hold, so a new one needs a new sequence: frames
        // of removals alone stay in the active segment.
        let next = state.lastSequence + 1
        guard force || activeSize >= config.segmentBytes, next > activeFirst else { return }
        pipeline.drain()  // every ticket's frames are in the active segment
        try ensureWritable()
        do {
            // A sealed segment ends at its last frame.
            if allocatedEnd > activeSize { try active.truncate(to: activeSize) }
            try syncLog()
            try StreamFiles.writeSegmentHeader(fileSystem: fileSystem, path: paths.segment(next), firstSequence: next)
            try fileSystem.syncDirectory(paths.segments)
            let handle = try fileSystem.open(paths.segment(next), create: false)
            try index.checkpoint()
            active = handle
            activeFirst = next
            activeSize = Int64(SegmentHeader.size)
            allocatedEnd = activeSize
            segments.append(next)
            unsynced = false
        } catch let error as FileSystemError {
            throw StoreError.wrap(error)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.needsRecovery("\(error)")
        }
    }
}

/// Purge planning over the index (Specs/Retention.md, "Purge").
enum Purge {
    static func run(_ request: PurgeRequest, writer: inout IndexWriter) throws -> UInt64 {
        let state = writer.state.stream
        guard state.messages > 0 else { return 0 }
        let upper = min(state.lastSequence, (request.belowSequence ?? .max) &- 1)
        guard upper >= state.firstSequence else { return 0 }
        if request.filter == nil || request.filter == ">" {
            var end = upper
            if let keep = request.keep, keep > 0 {
                // Keep the `keep` newest held messages at or below `upper`.
                var kept: UInt64 = 0
                var cursorSequence = upper
                while kept < keep {
                    guard let (sequence, _) = try lastHeld(atOrBefore: cursorSequence, writer: writer), sequence >= state.firstSequence else { return 0 }
                    kept += 1
                    if sequence == 0 { return 0 }
                    end = sequence - 1
                    cursorSequence = sequence - 1
                }
                guard end >= state.firstSequence else { return 0 }
            }
            return try writer.remove(range: state.firstSequence...end)
        }
        var matching: [UInt64] = []
        var next = state.firstSequence
        scan: while next <= upper {
            let batch = try writer.reader.held(atOrAfter: next, filter: request.filter, limit: 4096)
            for (sequence, _) in batch {
                if sequence > upper { break scan }
                matching.append(sequence)
            }
            guard let last = batch.last, batch.count == 4096 else { break }
            next = last.0 + 1
        }
        if let keep = request.keep { matching.removeLast(min(Int(keep), matching.count)) }
        return UInt64(try writer.remove(matching).count)
    }

    private static func lastHeld(atOrBefore sequence: UInt64, writer: IndexWriter) throws -> (UInt64, MessageLocation)? {
        try writer.reader.lastHeld(atOrBefore: sequence)
    }
}
