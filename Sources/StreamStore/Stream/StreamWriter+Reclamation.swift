#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import LMDB

/// Which sealed segments background reclamation works on (Specs/Retention.md, "Reclamation"): a pure
/// decision over what each holds now and held after its last compaction.
enum ReclamationPolicy {
    /// One sealed segment as reclamation sees it.
    struct Segment: Equatable {
        var first: UInt64
        /// Messages the index still holds in it.
        var live: UInt64
        /// Messages it held when last written: after its last compaction, else the sequences it spans.
        var held: UInt64
    }

    /// The segments to compact, oldest first: every one whose messages are all removed (compaction
    /// deletes it, or keeps only the removals a replay still needs), then at most `rewrites` of those that
    /// hold at most half of what they held (a rewrite costs a read and a recompression of what stays).
    static func candidates(_ segments: [Segment], rewrites: Int = 1) -> [UInt64] {
        var chosen: [UInt64] = []
        var rewritesLeft = rewrites
        for segment in segments where segment.live < segment.held {
            if segment.live == 0 {
                chosen.append(segment.first)
            } else if segment.live * 2 <= segment.held && rewritesLeft > 0 {
                chosen.append(segment.first)
                rewritesLeft -= 1
            }
        }
        return chosen
    }
}

/// Background reclamation and message-id pruning, run by the writer between takes.
extension StreamWriter {
    /// Every message is removed and the active segment holds more than this: it is sealed (and so deleted
    /// by the pass), rather than kept until it fills.
    static let deadActiveSegmentBytes: Int64 = 64 << 10

    var activeSegmentIsDead: Bool {
        state.messages == 0 && activeSize > Self.deadActiveSegmentBytes && state.lastSequence + 1 > activeFirst
    }

    /// A pass runs after this many removals, or this long after the last one with removals since.
    static let reclaimAfterRemovals: UInt64 = 1024
    static let reclaimInterval: Duration = .seconds(1)

    /// Whether a reclamation pass is due now: the oldest segment is wholly removed (the head of a capped
    /// stream or a drained queue), enough removals have gathered, or some have waited long enough.
    var reclamationDue: Bool {
        guard config.reclaim, removedSinceReclaim > 0 else { return false }
        if let retryAt = reclaimRetryAt, ContinuousClock.now < retryAt { return false }
        if activeSegmentIsDead { return true }
        guard segments.count > 1 else { return false }
        return state.firstSequence >= segments[1] || removedSinceReclaim >= Self.reclaimAfterRemovals
            || ContinuousClock.now - lastReclaim >= Self.reclaimInterval
    }

    /// Deletes sealed segments whose records are all removed and rewrites at most one mostly removed
    /// segment per pass, so that publishing waits for at most one segment's rewrite at a time. Crash-safe
    /// as compaction is; readers never see a half-applied swap. A pass that leaves work sets itself due
    /// again.
    func reclaimIfDue() throws {
        guard reclamationDue else { return }
        pipeline.drain()
        let removedBefore = removedSinceReclaim
        let span = reclaimSpan
        removedSinceReclaim = 0
        reclaimSpan = nil
        lastReclaim = .now
        if activeSegmentIsDead { try rollIfNeeded(force: true) }
        let sealed = Array(segments.dropLast())
        let first = state.firstSequence
        let views: [ReclamationPolicy.Segment] = try index.read { reader in
            try sealed.enumerated().compactMap { position, segment in
                let end = segments[position + 1] - 1  // sealed: a newer segment follows
                let held = liveAfterCompaction[segment] ?? (end - segment + 1)
                guard end >= first else { return .init(first: segment, live: 0, held: held) }
                // Only segments the removals since the last pass touched are counted (a large stream
                // with a few deletes is not walked whole).
                guard let span, span.overlaps(segment...end) else { return nil }
                let live = try reader.sequences.count(in: segment...end)
                return .init(first: segment, live: live, held: held)
            }
        }
        let chosen = ReclamationPolicy.candidates(views)
        guard !chosen.isEmpty else { return }
        var report = CompactionReport()
        let deletedBefore = report.segmentsRemoved
        do {
            for segment in chosen where segments.contains(segment) {
                try compact(segment: segment, options: CompactionOptions(), report: &report)
            }
        } catch {
            // Tried again after the interval (unless the failure poisoned the stream), not at once.
            removedSinceReclaim = max(removedBefore, 1)
            reclaimSpan = span
            reclaimRetryAt = .now + Self.reclaimInterval
            throw error
        }
        reclaimRetryAt = nil
        if report.segmentsRemoved > deletedBefore {
            // A segment kept only for removals may be deletable once the segments they named are gone.
            liveAfterCompaction = liveAfterCompaction.filter { $0.value > 0 }
        }
        let rewritesLeft = views.filter { $0.live > 0 && $0.live * 2 <= $0.held }.count > 1
        if rewritesLeft {
            removedSinceReclaim = max(removedBefore, Self.reclaimAfterRemovals)
            reclaimSpan = span
        }
    }

    /// How often the writer looks at whether the index file is mostly free pages (``IndexStore/compactIfWasteful(maxLiveBytes:)``).
    static let indexCompactionInterval: Duration = .seconds(10)

    /// Rewrites the index compact when it is mostly free pages (a drained queue), at most every 10 s.
    func compactIndexIfDue() throws {
        guard config.reclaim, removedSinceIndexCheck,
              ContinuousClock.now - lastIndexCompactionCheck >= Self.indexCompactionInterval else { return }
        lastIndexCompactionCheck = .now
        removedSinceIndexCheck = false
        pipeline.drain()
        do {
            _ = try index.compactIfWasteful()
        } catch {
            if !index.environment.isUsable, failure == nil {
                failure = .needsRecovery("the index could not be reopened after its compaction (\(error)); reopen the stream")
            }
            throw error
        }
    }

    /// How often ids are pruned (ns): a quarter of the duplicate window, at most once a second. So the
    /// index holds at most the ids of a window and a quarter.
    var idPruneInterval: Int64 { max(config.duplicateWindow / 4, 1_000_000_000) }

    /// Forgets message ids that have left the duplicate window (index only: the log keeps them, and a
    /// rebuild prunes again). Runs on the first pass after open, then every ``idPruneInterval`` of the
    /// stream's clock; a prune that stopped at its limit is due again at once.
    func pruneMessageIDsIfDue() throws {
        let now = clock()
        guard config.duplicateWindow > 0, lastIDPrune == .min || now - lastIDPrune >= idPruneInterval else { return }
        let limit = 50_000
        let walked = try index.write { writer in try writer.pruneMessageIDs(before: now - config.duplicateWindow, limit: limit) }
        lastIDPrune = walked >= limit ? .min : now
    }
}
