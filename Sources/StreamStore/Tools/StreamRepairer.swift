#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// One step of a repair.
public struct RepairAction: Codable, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        /// Move the index aside (it is rebuilt from the log).
        case backupIndex
        /// Cut a segment at `offset` (a damaged or torn tail), keeping the cut bytes in quarantine.
        case cutTail
        /// Move a damaged region out of a segment into quarantine (the segment is rewritten without it).
        case quarantineRegion
        /// Move a whole segment whose header is damaged into quarantine.
        case quarantineSegment
        /// Rewrite the header of an empty active segment, or drop an empty sealed one.
        case resetEmptySegment
        /// Rebuild the index from the log, keeping sequences from going back.
        case rebuildIndex
        /// Carry the consumers over to the rebuilt index, their positions brought within the stream.
        case restoreConsumers
    }

    public var kind: Kind
    public var file: String
    public var offset: Int64?
    public var length: Int64?
    /// Sequences the step costs, when known.
    public var lostSequences: ClosedRange<UInt64>?
    public var detail: String

    public var description: String {
        var text = "\(kind.rawValue) \(file)"
        if let offset { text += " at \(offset)" }
        if let length { text += " (\(length) bytes)" }
        if let lost = lostSequences { text += ", losing sequences \(lost.lowerBound)...\(lost.upperBound)" }
        return text + ": " + detail
    }
}

/// What a repair did (or, with a dry run, would do).
public struct RepairReport: Codable, Equatable, Sendable {
    public var actions: [RepairAction] = []
    public var dryRun = false
    /// Messages held after the repair.
    public var messages: UInt64 = 0
    public var lastSequence: UInt64 = 0
}

/// Makes a damaged stream usable again (Specs/Recovery.md): backs up the index, cuts torn tails, moves
/// damaged frames and segments into `quarantine/` (never deletes them), and rebuilds the index from what is
/// intact. Sequence numbers stay stable: nothing intact is renumbered and no sequence is given twice.
/// Takes the stream's lock: it refuses to run while a broker holds the stream.
public enum StreamRepairer {
    public static func repair(directory: String, dryRun: Bool = false, fileSystem: any FileSystem = POSIXFileSystem(),
                              progress: ((Int64, Int64) -> Void)? = nil) throws -> RepairReport {
        let paths = StreamPaths(root: directory)
        guard fileSystem.exists(paths.config) else { throw StoreError.notAStream(path: directory) }
        var lock = try StreamFiles.acquireLock(paths.lock)
        func releaseLock() {
            if lock >= 0 { close(lock) }
            lock = -1
        }
        defer { releaseLock() }

        // The sequence floor: what the old index knew, if it can still be read.
        let oldIndex = try? IndexStore(path: paths.index, readOnly: true)
        let oldState = oldIndex.flatMap { try? $0.read { try $0.persistentState()?.stream } }
        let oldConsumers = oldIndex.flatMap { try? $0.read { try $0.consumers() } } ?? []
        var report = RepairReport()
        report.dryRun = dryRun
        let scanner = LogScanner(paths: paths, fileSystem: fileSystem)
        let segments = try scanner.segments()
        let total = try scanner.totalBytes(segments)
        var done: Int64 = 0
        var plans: [(segment: UInt64, keep: [(Int64, Int64)], regions: [RepairAction], header: RepairAction?, empty: Bool)] = []
        var lastGood: UInt64 = 0
        for (position, segment) in segments.enumerated() {
            let file = paths.segment(segment)
            let next = position + 1 < segments.count ? segments[position + 1] : nil
            var keep: [(Int64, Int64)] = []
            var regions: [RepairAction] = []
            var header: RepairAction?
            var pendingLoss: Int?
            var sawFrame = false
            try scanner.scan(segment: segment) { event in
                switch event {
                case .badHeader(let reason, let size):
                    header = RepairAction(kind: size == 0 ? .resetEmptySegment : .quarantineSegment, file: file, offset: 0, length: size,
                                          lostSequences: size == 0 ? nil : next.map { segment...($0 - 1) }, detail: reason)
                    done += size
                case .frame(let offset, let frame):
                    sawFrame = true
                    keep.append((offset, Int64(frame.header.frameLength)))
                    let first = frame.entries.lazy.compactMap { entry -> UInt64? in
                        if case .message(let view) = entry { return view.sequence } else { return nil }
                    }.first
                    if let loss = pendingLoss, let first, first > max(lastGood, segment - 1) + 1 {
                        regions[loss].lostSequences = (max(lastGood, segment - 1) + 1)...(first - 1)
                    }
                    pendingLoss = nil
                    for entry in frame.entries { if case .message(let view) = entry { lastGood = max(lastGood, view.sequence) } }
                    done += Int64(frame.header.frameLength)
                case .damage(let offset, let length, let reason, let atEnd):
                    regions.append(RepairAction(kind: atEnd ? .cutTail : .quarantineRegion, file: file, offset: offset, length: length,
                                                lostSequences: nil, detail: reason))
                    if atEnd, let next, next > max(lastGood, segment - 1) + 1 {
                        regions[regions.count - 1].lostSequences = (max(lastGood, segment - 1) + 1)...(next - 1)
                    }
                    pendingLoss = atEnd ? nil : regions.count - 1
                    done += length
                }
            }
            progress?(done, total)
            _ = sawFrame
            plans.append((segment, keep, regions, header, header?.kind == .resetEmptySegment))
        }

        report.actions.append(RepairAction(kind: .backupIndex, file: paths.index, offset: nil, length: nil, lostSequences: nil,
                                           detail: "moved to index.backup.<time>, rebuilt from the log"))
        for plan in plans {
            if let header = plan.header { report.actions.append(header) }
            report.actions.append(contentsOf: plan.regions)
        }
        report.actions.append(RepairAction(kind: .rebuildIndex, file: paths.index, offset: nil, length: nil, lostSequences: nil,
                                           detail: "sequences continue after \(max(oldState?.lastSequence ?? 0, lastGood))"))
        if !oldConsumers.isEmpty {
            report.actions.append(RepairAction(kind: .restoreConsumers, file: paths.index, offset: nil, length: nil, lostSequences: nil,
                                               detail: oldConsumers.map(\.name).joined(separator: ", ")))
        }
        if dryRun { return report }

        // Apply: quarantine first (nothing is deleted), then rewrite segments, then rebuild.
        let quarantine = directory + "/quarantine"
        try fileSystem.createDirectory(quarantine)
        let stamp = FileStream.systemClock()
        if fileSystem.exists(paths.index) { try fileSystem.rename(paths.index, to: directory + "/index.backup.\(stamp)") }
        for (position, plan) in plans.enumerated() {
            let file = paths.segment(plan.segment)
            let name = SegmentHeader.fileName(firstSequence: plan.segment)
            if let header = plan.header {
                if header.kind == .quarantineSegment { try fileSystem.rename(file, to: quarantine + "/" + name) }
                if position == plans.count - 1 || header.kind == .resetEmptySegment && position == plans.count - 1 {
                    try StreamFiles.writeSegmentHeader(fileSystem: fileSystem, path: file, firstSequence: plan.segment)
                } else if header.kind == .resetEmptySegment {
                    try fileSystem.remove(file)
                }
                continue
            }
            guard !plan.regions.isEmpty else { continue }
            let source = try fileSystem.open(file, create: false)
            for region in plan.regions {
                let bytes = try source.read(count: Int(region.length!), at: region.offset!)
                let out = try fileSystem.open(quarantine + "/\(name).\(region.offset!).bin", create: true)
                try out.truncate(to: 0)
                try out.write(bytes, at: 0)
                try out.sync()
            }
            // Rewrite the segment as its header and its valid frames, then swap it in.
            let rewritten = try fileSystem.open(file + ".repair", create: true)
            try rewritten.truncate(to: 0)
            try rewritten.write(SegmentHeader(firstSequence: plan.segment).encoded(), at: 0)
            var offset = Int64(SegmentHeader.size)
            for (start, length) in plan.keep {
                try rewritten.write(try source.read(count: Int(length), at: start), at: offset)
                offset += length
            }
            try rewritten.sync()
            try fileSystem.rename(file + ".repair", to: file)
        }
        try fileSystem.syncDirectory(paths.segments)
        try fileSystem.syncDirectory(quarantine)
        releaseLock()  // the rebuild below takes the lock itself

        let stream = try FileStream(directory: directory, fileSystem: fileSystem, sequenceFloor: max(oldState?.lastSequence ?? 0, lastGood))
        // Consumers: positions clamped to the stream; pending sequences no longer held are dropped (they
        // cannot be redelivered). The consumer layer's own state blob is kept as it was.
        for var record in oldConsumers {
            let last = stream.state.lastSequence
            record.deliveredStreamSequence = min(record.deliveredStreamSequence, last)
            record.ackFloorStreamSequence = min(record.ackFloorStreamSequence, record.deliveredStreamSequence)
            let (floor, delivered) = (record.ackFloorStreamSequence, record.deliveredStreamSequence)
            record.pendingSequences = try record.pendingSequences.filter { sequence in
                guard sequence > floor && sequence <= delivered else { return false }
                return try stream.message(sequence: sequence) != nil
            }
            try stream.saveConsumer(record)
        }
        report.messages = stream.state.messages
        report.lastSequence = stream.state.lastSequence
        stream.close()
        return report
    }
}
